package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// pageQuery reads a listing's limit (0 when absent: the store's default page) and cursor; a
// requestError names a malformed one.
func pageQuery(q url.Values) (limit int, cursor string, err error) {
	if v := q.Get(api.QueryLimit); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return 0, "", badRequest("%s must be a non-negative number", api.QueryLimit)
		}
	}
	cursor = q.Get(api.QueryCursor)
	if cursor != "" && store.CheckCursor(cursor) != nil {
		return 0, "", badRequest("%s must be the %s header of a previous page", api.QueryCursor, api.HeaderNextCursor)
	}
	return limit, cursor, nil
}

// boundedItems encodes the views of a page of items whose next page starts at next, ending the
// page early, with the cursor of its last item as next, where their JSON would exceed maxBytes:
// so that a page of items of any size fits in what a client reads (api.MaxResponseBytes). A
// page keeps its first item whatever its size.
func boundedItems[T any](items []T, next string, view func(T) any, cursor func(T) string, maxBytes int) ([]json.RawMessage, string, error) {
	out := make([]json.RawMessage, 0, len(items))
	size := 0
	for i, it := range items {
		b, err := json.Marshal(view(it))
		if err != nil {
			return nil, "", fmt.Errorf("encode item %d of a page: %w", i, err)
		}
		size += len(b) + 1 // and a comma
		if i > 0 && size > maxBytes {
			return out, cursor(items[i-1]), nil
		}
		out = append(out, b)
	}
	return out, next, nil
}

// writeArrayPage answers a page of a listing whose next page starts at next: the views of its
// items as one JSON array, cut to api.MaxPageBytes, and api.HeaderNextCursor when a page follows.
func writeArrayPage[T any](w http.ResponseWriter, items []T, next string, view func(T) any, cursor func(T) string) error {
	return writePage(w, items, next, view, cursor, func(page []json.RawMessage) any { return page })
}

// writePage is writeArrayPage for a listing whose answer holds the page's JSON array in what
// wrap makes of it.
func writePage[T any](w http.ResponseWriter, items []T, next string, view func(T) any, cursor func(T) string, wrap func([]json.RawMessage) any) error {
	page, next, err := boundedItems(items, next, view, cursor, api.MaxPageBytes)
	if err != nil {
		return err
	}
	if next != "" {
		w.Header().Set(api.HeaderNextCursor, next)
	}
	writeJSON(w, http.StatusOK, wrap(page))
	return nil
}
