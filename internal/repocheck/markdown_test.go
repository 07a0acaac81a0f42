package repocheck

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// mdPath is a code span that names a Markdown file, such as `docs/encryption.md`.
var mdPath = regexp.MustCompile(`^[\w./-]+\.md$`)

// markdownFiles lists the repository's Markdown files, relative to root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Markdown files found")
	}
	return files
}

// references returns the link and image destinations of a Markdown document, and the Markdown
// files its code spans name.
func references(src []byte) (links, named []string) {
	doc := goldmark.New().Parser().Parse(text.NewReader(src))
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			links = append(links, string(n.Destination))
		case *ast.Image:
			links = append(links, string(n.Destination))
		case *ast.CodeSpan:
			var b strings.Builder
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				if t, ok := c.(*ast.Text); ok {
					b.Write(t.Value(src))
				}
			}
			if mdPath.MatchString(b.String()) {
				named = append(named, b.String())
			}
		}
		return ast.WalkContinue, nil
	})
	return links, named
}

// resolve reports why a relative reference from the Markdown file md does not resolve inside
// the repository, or "" when it does. External URLs and in-page anchors are not checked.
func resolve(md, dest string) string {
	u, err := url.Parse(dest)
	if err != nil {
		return "not a URL: " + err.Error()
	}
	if u.Scheme != "" || u.Host != "" || u.Path == "" {
		return ""
	}
	target := filepath.Join(filepath.Dir(md), filepath.FromSlash(u.Path))
	if strings.HasPrefix(u.Path, "/") {
		target = filepath.FromSlash(strings.TrimPrefix(u.Path, "/"))
	}
	if target == ".." || strings.HasPrefix(target, ".."+string(filepath.Separator)) {
		return "points outside the repository"
	}
	if _, err := os.Stat(filepath.Join(root, target)); err != nil {
		return "names no file of the repository"
	}
	return ""
}

func TestMarkdownLinksResolveInsideTheRepository(t *testing.T) {
	for _, md := range markdownFiles(t) {
		src, err := os.ReadFile(filepath.Join(root, md))
		if err != nil {
			t.Fatal(err)
		}
		links, named := references(src)
		for _, dest := range links {
			if why := resolve(md, dest); why != "" {
				t.Errorf("%s: link %q %s", md, dest, why)
			}
		}
		for _, name := range named {
			// A named file is relative to the document or to the repository's root.
			if resolve(md, name) != "" && resolve("README.md", name) != "" {
				t.Errorf("%s: names `%s`, which is not in the repository", md, name)
			}
		}
	}
}

func TestResolveRefusesWhatALinkCheckMustCatch(t *testing.T) {
	tests := []struct {
		md, dest string
		ok       bool
	}{
		{"README.md", "docs/encryption.md", true},
		{"README.md", "docs/encryption.md#levels", true},
		{"docs/refusals.md", "../README.md", true},
		{"README.md", "#the-roles", true},
		{"README.md", "https://example.com/x.md", true},
		{"README.md", "../shared/ARCHITECTURE.md", false},
		{"README.md", "/../../etc/passwd", false},
		{"README.md", "docs/nosuch.md", false},
		{"rego/README.md", "SCENARIOS.md", false},
	}
	for _, tt := range tests {
		if why := resolve(tt.md, tt.dest); (why == "") != tt.ok {
			t.Errorf("resolve(%q, %q) = %q, want ok=%v", tt.md, tt.dest, why, tt.ok)
		}
	}
	links, named := references([]byte("see [a](docs/a.md) and ![i](img.png) and `SCENARIOS.md` and `go test`"))
	if strings.Join(links, ",") != "docs/a.md,img.png" || strings.Join(named, ",") != "SCENARIOS.md" {
		t.Errorf("references = %q, %q", links, named)
	}
}
