package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
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
