package console

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/api"
)

// exportPage is how many records each API call of a download reads.
const exportPage = 1000

// csvHeader names the columns of a CSV download.
var csvHeader = []string{"decision_id", "timestamp", "subject", "host", "allow", "reasons", "path", "operation", "session_id", "relay", "revision"}

// handleExport downloads every record the filter keeps, newest first, as CSV or NDJSON: page
// after page of the API's decision query, each page a call the log records.
func (c *Console) handleExport(w http.ResponseWriter, r *http.Request, u user) {
	format := r.PathValue("format")
	if format != "csv" && format != "ndjson" {
		c.fail(w, r, http.StatusNotFound, "downloads are csv or ndjson")
		return
	}
	q, bad := filterOf(r.URL.Query()).query()
	if bad != "" {
		c.fail(w, r, http.StatusBadRequest, bad)
		return
	}
	q.Set(api.QueryLimit, strconv.Itoa(exportPage))
	var pg api.DecisionPage
	if e := c.call(r, u, http.MethodGet, api.PathDecisions, q, nil, &pg); e != nil {
		c.refused(w, r, u, "decisions", e)
		return
	}
	name := "decisions-" + time.Now().UTC().Format("20060102T150405Z") + "." + format
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	out := newRecordWriter(w, format)
	for {
		for _, d := range pg.Decisions {
			if err := out.write(d); err != nil {
				return // the browser went away
			}
		}
		if pg.Next == "" {
			out.flush()
			return
		}
		q.Set(api.QueryCursor, pg.Next)
		pg = api.DecisionPage{}
		if e := c.call(r, u, http.MethodGet, api.PathDecisions, q, nil, &pg); e != nil {
			// The download is under way: it ends short, and the log has the refusal.
			c.cfg.Logger.Warn("console download ended early", "subject", u.claims.Subject, "err", e.err.Message)
			out.flush()
			return
		}
	}
}

// recordWriter writes decision records as CSV rows or NDJSON lines.
type recordWriter struct {
	csv  *csv.Writer
	json *json.Encoder
}

func newRecordWriter(w http.ResponseWriter, format string) *recordWriter {
	if format == "ndjson" {
		return &recordWriter{json: json.NewEncoder(w)}
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	return &recordWriter{csv: cw}
}

func (rw *recordWriter) write(d api.Decision) error {
	if rw.json != nil {
		return rw.json.Encode(d)
	}
	row := csvRow(d)
	for i, v := range row {
		row[i] = csvSafe(v)
	}
	return rw.csv.Write(row)
}

func (rw *recordWriter) flush() {
	if rw.csv != nil {
		rw.csv.Flush()
	}
}

// csvRow is a record as the columns of csvHeader.
func csvRow(d api.Decision) []string {
	return []string{
		d.ID, d.Time.UTC().Format(time.RFC3339Nano), d.Subject, d.HostName, strconv.FormatBool(d.Allow),
		strings.Join(d.Reasons, "; "), d.Path, d.Labels["operation"], d.Labels[api.LabelSession], d.Labels[api.LabelRelay], d.Revision,
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (CSV injection): a value
// starting with =, +, -, @, a tab or a carriage return gets a leading apostrophe.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
