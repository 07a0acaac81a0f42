package console

import "testing"

// TestPagesParse parses every page template, as New does when the CM starts.
func TestPagesParse(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != len(pageNames) {
		t.Fatalf("%d pages parsed, want %d", len(pages), len(pageNames))
	}
}
