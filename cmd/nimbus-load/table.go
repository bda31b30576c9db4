package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// table prints results as aligned columns: names left, numbers right.
type table struct {
	header []string
	rows   [][]string
}

func newResultTable() *table {
	return &table{header: []string{"scenario", "concurrency", "requests", "req/s", "p50", "p99", "errors"}}
}

func (t *table) add(r result) {
	t.rows = append(t.rows, []string{
		r.scenario,
		strconv.Itoa(r.concurrency),
		strconv.Itoa(r.ok),
		fmt.Sprintf("%.1f", r.reqPerSec()),
		ms(r.p50),
		ms(r.p99),
		strconv.Itoa(r.errors),
	})
}

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.header)
	for _, row := range t.rows {
		line(row)
	}
}

// ms shows a latency in milliseconds, with more digits when it is small.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "-"
	case f < 10:
		return fmt.Sprintf("%.2fms", f)
	case f < 100:
		return fmt.Sprintf("%.1fms", f)
	default:
		return fmt.Sprintf("%.0fms", f)
	}
}
