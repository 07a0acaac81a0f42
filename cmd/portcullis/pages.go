package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

// tableBlock is how many rows of a table a streamWriter aligns and writes out at a time: the
// output streams, whatever the count, with columns aligned within each block.
const tableBlock = 256

// streamWriter prints the items of a listing in one format as they arrive (table, csv, json
// as one array, ndjson): it holds no more than a table block, whatever the count.
type streamWriter[T any] struct {
	format string
	out    io.Writer
	// noun names the items in the table's last line ("(3 records)").
	noun     string
	tableRow func(T) string
	csvRow   func(T) []string
	tab      *tabwriter.Writer
	csv      *csv.Writer
	// rows counts the items written.
	rows int
}

// streamColumns are how a streamWriter words its items in a table and in CSV.
type streamColumns[T any] struct {
	// noun names the items in the table's last line.
	noun string
	// tableHeader and tableRow are the table's tab-separated header and rows.
	tableHeader string
	tableRow    func(T) string
	// csvHeader and csvRow are the CSV's; nil when the listing has no CSV form.
	csvHeader []string
	csvRow    func(T) []string
}

// newStreamWriter starts a listing in format, which the caller has checked is one cols has.
func newStreamWriter[T any](format string, out io.Writer, cols streamColumns[T]) *streamWriter[T] {
	w := &streamWriter[T]{format: format, out: out, noun: cols.noun, tableRow: cols.tableRow, csvRow: cols.csvRow}
	switch format {
	case formatTable:
		w.tab = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w.tab, cols.tableHeader)
	case formatCSV:
		w.csv = csv.NewWriter(out)
		_ = w.csv.Write(cols.csvHeader)
	}
	return w
}

// write prints one item.
func (w *streamWriter[T]) write(it T) error {
	w.rows++
	switch w.format {
	case formatTable:
		if _, err := fmt.Fprintln(w.tab, w.tableRow(it)); err != nil {
			return err
		}
		if w.rows%tableBlock == 0 {
			return w.tab.Flush()
		}
		return nil
	case formatCSV:
		return w.csv.Write(w.csvRow(it))
	case formatNDJSON:
		return json.NewEncoder(w.out).Encode(it)
	}
	// formatJSON: one array, written element by element as json.Encoder with a two-space
	// indent would write it whole.
	b, err := json.MarshalIndent(it, "  ", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", w.noun, err)
	}
	sep := ",\n  "
	if w.rows == 1 {
		sep = "[\n  "
	}
	_, err = fmt.Fprintf(w.out, "%s%s", sep, b)
	return err
}

// close flushes the output; the table ends with the count of items.
func (w *streamWriter[T]) close() error {
	switch w.format {
	case formatTable:
		fmt.Fprintf(w.tab, "(%d %s)\n", w.rows, w.noun)
		return w.tab.Flush()
	case formatCSV:
		w.csv.Flush()
		return w.csv.Error()
	case formatJSON:
		end := "\n]\n"
		if w.rows == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(w.out, end)
		return err
	}
	return nil
}

// listPageSize is the largest page a listing asks the CM for: its largest page of decision
// records, sessions, Hosts and locks (store.MaxDecisionLimit, MaxSessionLimit, MaxHostLimit,
// MaxLockLimit).
const listPageSize = 1000

// followPages yields the items of a listing the CM answers in pages, following its cursor: at
// most limit (0: all). fetch reads the page of at most ask items after cursor ("" for the
// first) and returns the next page's cursor and the answer's size. The size asked follows the
// pages the CM ended early for their size (nextPageSize). When more is not nil, it is set when
// the limit left items out.
func followPages[T any](limit int, more *bool, fetch func(ask int, cursor string) ([]T, api.PageAnswer, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		n, size, cursor := 0, listPageSize, ""
		for {
			ask := size
			if limit > 0 {
				ask = min(ask, limit-n)
			}
			page, ans, err := fetch(ask, cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			next := ans.Next
			size = nextPageSize(ask, len(page), ans.Bytes, next != "")
			for _, it := range page {
				if !yield(it, nil) {
					return
				}
				n++
			}
			if next == "" {
				return
			}
			if limit > 0 && n >= limit {
				if more != nil {
					*more = true
				}
				return
			}
			cursor = next
		}
	}
}

// nextPageSize is the page size to ask for after a page of got items in an answer of size
// bytes, asked as ask: the CM ends a page early when its items would not fit in an answer
// (api.MaxPageBytes), and then the next page asks for about as many as fitted, so that the CM
// does not read items it cannot send; a page that was not cut grows back towards listPageSize.
// A page that ended early without nearing the bound (GET /v1/me/hosts ends one when it has
// decided as many Hosts as a page may, however few were reachable) is not a reason to ask for
// fewer.
func nextPageSize(ask, got, bytes int, more bool) int {
	if more && got > 0 && got < ask && 2*bytes >= api.MaxPageBytes {
		return got // the page filled half the bound or more: it ended for its size, or may have
	}
	return min(listPageSize, max(ask, got)+max(ask, got)/4+1)
}

// streamListing writes every item of the listing the CM answers in pages at path with q, in
// cfg's format (table, json or ndjson), page by page as the pages arrive, following the CM's
// cursor: at most cfg's limit of items (0: all), and a word on standard error when the limit
// left some out.
func streamListing[T any](cmd *cobra.Command, cfg listConfig, path string, q url.Values, cols streamColumns[T]) error {
	return streamPages(cmd, cfg, path, q, cols, func(page *[]T) []T { return *page })
}

// streamPages is streamListing for a listing whose every page is a P (a JSON array of items,
// or an object holding one), from which items reads the page's items.
func streamPages[P, T any](cmd *cobra.Command, cfg listConfig, path string, q url.Values, cols streamColumns[T], items func(*P) []T) error {
	format, limit := cfg.Format, cfg.Limit
	if format != formatTable && format != formatJSON && format != formatNDJSON {
		return fmt.Errorf("--format %q: want table, json or ndjson", format)
	}
	if limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
	}
	g, err := cfg.guest(cmd.Context())
	if err != nil {
		return err
	}
	w := newStreamWriter(format, cmd.OutOrStdout(), cols)
	return writePages(w, cmd.ErrOrStderr(), limit, func(ask int, cursor string) ([]T, api.PageAnswer, error) {
		q.Set(api.QueryLimit, strconv.Itoa(ask))
		if cursor != "" {
			q.Set(api.QueryCursor, cursor)
		}
		var page P
		ans, err := api.CallPage(cmd.Context(), g.HTTPClient(), g.CMURL+path+"?"+q.Encode(), g.IDToken, &page)
		if err != nil {
			return nil, ans, fmt.Errorf("list %s: %w", cols.noun, err)
		}
		return items(&page), ans, nil
	})
}

// writePages writes with w every item of a listing the CM answers in pages through fetch
// (followPages), at most limit (0: all), and a word on errOut when the limit left some out.
func writePages[T any](w *streamWriter[T], errOut io.Writer, limit int, fetch func(ask int, cursor string) ([]T, api.PageAnswer, error)) error {
	more := false
	for it, err := range followPages(limit, &more, fetch) {
		if err != nil {
			return err
		}
		if err := w.write(it); err != nil {
			return err
		}
	}
	if more {
		fmt.Fprintf(errOut, "portcullis: more %s than --limit %d selects; --limit 0 lists every one\n", w.noun, limit)
	}
	return w.close()
}
