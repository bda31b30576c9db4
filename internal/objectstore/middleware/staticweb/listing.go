package staticweb

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// item is one entry of a container's JSON listing.
type item struct {
	Name         *string `json:"name"`
	Subdir       *string `json:"subdir"`
	Bytes        int64   `json:"bytes"`
	ContentType  string  `json:"content_type"`
	LastModified string  `json:"last_modified"`
}

// maxListing bounds the listing read for one page.
const maxListing = 64 << 20

var errListing = errors.New("listing failed")

func readListing(resp *http.Response) ([]item, error) {
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, errListing
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListing))
	if err != nil {
		return nil, err
	}
	var items []item
	if len(body) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// listing serves the HTML listing of the directory prefix ("" for the
// container's top).
func (s *site) listing(w http.ResponseWriter, prefix string) {
	label := s.r.URL.Path
	if s.label != "" {
		parts := strings.Split(s.r.URL.Path, "/")
		rest := ""
		if len(parts) > 4 {
			rest = strings.Join(parts[4:], "/")
		}
		label = s.label + "/" + rest
	}
	if !isTrue(s.listings) {
		if s.errorPage(w, http.StatusNotFound) {
			return
		}
		s.stamp(w)
		writeHTML(w, s.r, http.StatusNotFound, disabledPage(label, s.cssPath(prefix), s.index), false)
		return
	}
	q := "format=json&delimiter=/"
	if prefix != "" {
		q += "&prefix=" + url.QueryEscape(prefix)
	}
	resp := s.get(s.containerPath(), q)
	if resp.StatusCode/100 != 2 {
		s.errorResponse(w, resp)
		return
	}
	items, err := readListing(resp)
	if err != nil {
		s.stamp(w)
		swift.WriteStatus(w, s.r, http.StatusInternalServerError)
		return
	}
	if prefix != "" && len(items) == 0 {
		s.notFound(w)
		return
	}
	s.stamp(w)
	page := listingPage(label, s.cssPath(prefix), prefix, s.tempURLQuery(), items)
	writeHTML(w, s.r, http.StatusOK, page, true)
}

// tempURLQuery carries a prefix temp URL over to the listing's links, so
// that its holder can follow them (Swift's staticweb does the same).
func (s *site) tempURLQuery() tempURL {
	if !swift.Authorized(s.r.Context()) {
		return tempURL{}
	}
	q := s.r.URL.Query()
	if _, ok := q["temp_url_sig"]; !ok {
		return tempURL{}
	}
	prefix, ok := q["temp_url_prefix"]
	if !ok {
		return tempURL{}
	}
	parts := []string{
		"temp_url_prefix=" + quote(prefix[0], "/"),
		"temp_url_expires=" + quote(q.Get("temp_url_expires"), "/"),
		"temp_url_sig=" + q.Get("temp_url_sig"),
	}
	if ip := q.Get("temp_url_ip_range"); ip != "" {
		parts = append(parts, "temp_url_ip_range="+quote(ip, "/"))
	}
	if _, ok := q["inline"]; ok {
		parts = append(parts, "inline")
	}
	return tempURL{prefix: prefix[0], query: "?" + strings.Join(parts, "&amp;")}
}

// tempURL is the temp URL a listing's links carry.
type tempURL struct {
	prefix string
	query  string // "?temp_url_prefix=...&amp;..." or ""
}

// cssPath is the style sheet's link relative to the listed directory.
func (s *site) cssPath(prefix string) string {
	if s.css == "" {
		return ""
	}
	if strings.HasPrefix(s.css, "/") || strings.HasPrefix(s.css, "http://") || strings.HasPrefix(s.css, "https://") {
		return quote(s.css, ":/")
	}
	return strings.Repeat("../", strings.Count(prefix, "/")) + quote(s.css, "/")
}

func writeHTML(w http.ResponseWriter, r *http.Request, status int, page string, generated bool) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	if generated {
		// Tells tempurl the page is the site's, to show inline.
		h.Set("X-Backend-Content-Generator", "staticweb")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, page)
	}
}

// disabledPage is Swift's page for a directory without an index page in
// a container without listings.
func disabledPage(label, css, index string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of " + pyEscape(label) + "</title>\n")
	if css != "" {
		b.WriteString(`  <link rel="stylesheet" type="text/css" href="` + css + "\" />\n")
	} else {
		b.WriteString("  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   p {font-size: 2}\n  </style>\n")
	}
	b.WriteString("</head>\n<body>  <h1>Web Listing Disabled</h1>   <p>The owner of this web site has disabled web listing.   <p>If you are the owner of this web site, you can enable   web listing by setting X-Container-Meta-Web-Listings.</p>")
	if index != "" {
		b.WriteString("<h1>Index File Not Found</h1> <p>The owner of this web site has set  <b>X-Container-Meta-Web-Index: " + pyEscape(index) + "</b>.  However, this file is not found.</p>")
	}
	b.WriteString(" </body>\n</html>\n")
	return b.String()
}

// listingPage renders a directory as Swift's staticweb does, byte for
// byte: subdirectories first, then objects.
func listingPage(label, css, prefix string, tu tempURL, items []item) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n <head>\n  <title>Listing of " + pyEscape(label) + "</title>\n")
	if css != "" {
		b.WriteString(`  <link rel="stylesheet" type="text/css" href="` + css + "\" />\n")
	} else {
		b.WriteString("  <style type=\"text/css\">\n" +
			"   h1 {font-size: 1em; font-weight: bold;}\n" +
			"   th {text-align: left; padding: 0px 1em 0px 1em;}\n" +
			"   td {padding: 0px 1em 0px 1em;}\n" +
			"   a {text-decoration: none;}\n" +
			"  </style>\n")
	}
	b.WriteString(" </head>\n <body>\n  <h1 id=\"title\">Listing of " + pyEscape(label) + "</h1>\n" +
		"  <table id=\"listing\">\n   <tr id=\"heading\">\n" +
		"    <th class=\"colname\">Name</th>\n    <th class=\"colsize\">Size</th>\n    <th class=\"coldate\">Date</th>\n   </tr>\n")
	if len(prefix) > len(tu.prefix) {
		b.WriteString("   <tr id=\"parent\" class=\"item\">\n    <td class=\"colname\"><a href=\"../" + tu.query + "\">../</a></td>\n" +
			"    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n")
	}
	for _, it := range items {
		if it.Subdir == nil {
			continue
		}
		sub := strings.TrimPrefix(*it.Subdir, prefix)
		b.WriteString("   <tr class=\"item subdir\">\n    <td class=\"colname\"><a href=\"./" + link(sub) + tu.query + "\">" +
			pyEscape(sub) + "</a></td>\n    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n")
	}
	for _, it := range items {
		if it.Name == nil {
			continue
		}
		name := strings.TrimPrefix(*it.Name, prefix)
		var types []string
		for _, t := range strings.Split(it.ContentType, "/") {
			types = append(types, "type-"+pyEscape(strings.ToLower(t)))
		}
		date, _, _ := strings.Cut(pyEscape(it.LastModified), ".")
		date = strings.ReplaceAll(date, "T", " ")
		b.WriteString("   <tr class=\"item " + strings.Join(types, " ") + "\">\n" +
			"    <td class=\"colname\"><a href=\"./" + link(name) + tu.query + "\">" + pyEscape(name) + "</a></td>\n" +
			"    <td class=\"colsize\">" + humanReadable(it.Bytes) + "</td>\n" +
			"    <td class=\"coldate\">" + date + "</td>\n   </tr>\n")
	}
	b.WriteString("  </table>\n </body>\n</html>\n")
	return b.String()
}

// link quotes a name for a relative href; dots too, so that a name like
// ".." or "a.b" cannot be read as a path step.
func link(name string) string { return strings.ReplaceAll(quote(name, "/"), ".", "%2E") }

// pyEscape is Python's html.escape, quotes included.
func pyEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(s)
}

// humanReadable is Swift's human_readable: 1536 -> "2Ki", 1048576 ->
// "1Mi", rounding half to even at each step as Python's round.
func humanReadable(n int64) string {
	v := float64(n)
	const suffixes = "KMGTPEZY"
	i := -1
	for v >= 1024 && i+1 < len(suffixes) {
		i++
		v = math.RoundToEven(v / 1024)
	}
	if i == -1 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatInt(int64(math.RoundToEven(v)), 10) + string(suffixes[i]) + "i"
}
