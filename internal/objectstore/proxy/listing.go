package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Listing formats: storage nodes always answer JSON; the client gets
// what ?format= or Accept asks for (Swift's listing_formats middleware).
const (
	typePlain = "text/plain"
	typeJSON  = "application/json"
	typeXML   = "application/xml"
	typeTXML  = "text/xml"
)

var formatTypes = map[string]string{"plain": typePlain, "json": typeJSON, "xml": typeXML}

// errBadAccept is a malformed Accept header (400 "Invalid Accept header").
var errBadAccept = errors.New("Invalid Accept header")

// listingType picks the listing's media type: ?format= (unknown values
// mean plain) wins over Accept. "" means nothing acceptable (406).
func listingType(format, accept string) (string, error) {
	if format != "" {
		if t, ok := formatTypes[strings.ToLower(format)]; ok {
			return t, nil
		}
		return typePlain, nil
	}
	return bestMatch(accept, []string{typePlain, typeJSON, typeXML, typeTXML})
}

type mediaRange struct {
	typ, sub string
	q        float64
	order    int
}

// bestMatch chooses among offers by the Accept header's quality values as
// swob's best_match: the highest q first, then the most specific range;
// within one range, the first offer it matches.
func bestMatch(accept string, offers []string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return offers[0], nil
	}
	var ranges []mediaRange
	for i, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		params := strings.Split(part, ";")
		typ, sub, ok := strings.Cut(strings.TrimSpace(params[0]), "/")
		if !ok || typ == "" || sub == "" || strings.ContainsAny(typ+sub, " \t") {
			return "", errBadAccept
		}
		mr := mediaRange{typ: strings.ToLower(typ), sub: strings.ToLower(sub), q: 1, order: i}
		if mr.typ == "*" && mr.sub != "*" {
			return "", errBadAccept
		}
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || q < 0 || q > 1 {
					return "", errBadAccept
				}
				mr.q = q
			}
		}
		ranges = append(ranges, mr)
	}
	specificity := func(m mediaRange) int {
		switch {
		case m.typ == "*":
			return 0
		case m.sub == "*":
			return 1
		}
		return 2
	}
	sort.SliceStable(ranges, func(i, j int) bool {
		if ranges[i].q != ranges[j].q {
			return ranges[i].q > ranges[j].q
		}
		return specificity(ranges[i]) > specificity(ranges[j])
	})
	for _, m := range ranges {
		if m.q <= 0 {
			continue
		}
		for _, o := range offers {
			typ, sub, _ := strings.Cut(o, "/")
			if (m.typ == "*" || m.typ == typ) && (m.sub == "*" || m.sub == sub) {
				return o, nil
			}
		}
	}
	return "", nil
}

// entry is one listing record as the storage node sent it; values are
// strings or json.Number.
type entry map[string]any

// renderListing turns a storage node's JSON listing into the client's
// format. name is the container's (or account's) name for XML. A JSON
// listing is passed on as the node wrote it.
func renderListing(body []byte, mediaType string, account bool, name string) ([]byte, error) {
	if mediaType == typeJSON {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var list []entry
	if err := dec.Decode(&list); err != nil {
		return nil, err
	}
	switch mediaType {
	case typeXML, typeTXML:
		if account {
			return accountXML(list, name), nil
		}
		return containerXML(list, name), nil
	}
	var b bytes.Buffer
	for _, e := range list {
		if n, ok := e["name"]; ok {
			b.WriteString(str(n))
		} else {
			b.WriteString(str(e["subdir"]))
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// accountXML is Swift's account listing in XML: one line per container.
func accountXML(list []entry, name string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlDecl)
	b.WriteString(`<account name="`)
	xmlAttr(&b, name)
	b.WriteString("\">\n")
	for _, e := range list {
		if sd, ok := e["subdir"]; ok {
			b.WriteString(`<subdir name="`)
			xmlAttr(&b, str(sd))
			b.WriteString("\" />\n")
			continue
		}
		b.WriteString("<container>")
		for _, f := range []string{"name", "count", "bytes", "last_modified", "storage_policy"} {
			v, ok := e[f]
			if !ok {
				if f == "storage_policy" {
					continue
				}
				v = ""
			}
			xmlElem(&b, f, str(v))
		}
		b.WriteString("</container>\n")
	}
	b.WriteString("</account>")
	return b.Bytes()
}

// containerXML is Swift's container listing in XML, all on one line.
func containerXML(list []entry, name string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlDecl)
	b.WriteString(`<container name="`)
	xmlAttr(&b, name)
	if len(list) == 0 {
		b.WriteString(`" />`)
		return b.Bytes()
	}
	b.WriteString(`">`)
	for _, e := range list {
		if sd, ok := e["subdir"]; ok {
			b.WriteString(`<subdir name="`)
			xmlAttr(&b, str(sd))
			b.WriteString(`">`)
			xmlElem(&b, "name", str(sd))
			b.WriteString("</subdir>")
			continue
		}
		b.WriteString("<object>")
		for _, f := range []string{"name", "hash", "bytes", "content_type", "last_modified"} {
			xmlElem(&b, f, str(e[f]))
		}
		b.WriteString("</object>")
	}
	b.WriteString("</container>")
	return b.Bytes()
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func xmlElem(b *bytes.Buffer, tag, text string) {
	b.WriteByte('<')
	b.WriteString(tag)
	b.WriteByte('>')
	xmlText(b, text)
	b.WriteString("</")
	b.WriteString(tag)
	b.WriteByte('>')
}

// xmlText and xmlAttr escape as Python's ElementTree does.
func xmlText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
}

func xmlAttr(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\n':
			b.WriteString("&#10;")
		case '\r':
			b.WriteString("&#13;")
		case '\t':
			b.WriteString("&#09;")
		default:
			b.WriteRune(r)
		}
	}
}
