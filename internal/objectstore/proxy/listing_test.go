package proxy

import "testing"

const containerJSON = `[{"bytes": 5, "hash": "5d41402abc4b2a76b9719d911017c592", "name": "a&b.txt", "content_type": "text/plain", "last_modified": "2026-11-24T20:38:34.981190"}, {"subdir": "b/"}]`

func TestRenderContainerListing(t *testing.T) {
	for _, tc := range []struct{ mt, want string }{
		{typePlain, "a&b.txt\nb/\n"},
		{typeJSON, containerJSON},
		{typeXML, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<container name="c&quot;1"><object><name>a&amp;b.txt</name>` +
			`<hash>5d41402abc4b2a76b9719d911017c592</hash><bytes>5</bytes><content_type>text/plain</content_type>` +
			`<last_modified>2026-11-24T20:38:34.981190</last_modified></object><subdir name="b/"><name>b/</name></subdir></container>`},
	} {
		got, err := renderListing([]byte(containerJSON), tc.mt, false, `c"1`)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v\nwant %q", tc.mt, got, err, tc.want)
		}
	}
	got, _ := renderListing([]byte(`[]`), typeXML, false, "ref1")
	if string(got) != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<container name="ref1" />` {
		t.Errorf("empty container XML = %q", got)
	}
	if got, _ := renderListing([]byte(`[]`), typePlain, false, "c"); len(got) != 0 {
		t.Errorf("empty plain listing = %q", got)
	}
	if _, err := renderListing([]byte(`{"not":"a list"}`), typePlain, false, "c"); err == nil {
		t.Error("a non-list listing rendered")
	}
}

func TestRenderAccountListing(t *testing.T) {
	in := `[{"name": "glance", "count": 0, "bytes": 0, "last_modified": "2026-11-24T19:54:27.863090"}, {"subdir": "x/"}]`
	got, err := renderListing([]byte(in), typeXML, true, "AUTH_test")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<account name="AUTH_test">` + "\n" +
		`<container><name>glance</name><count>0</count><bytes>0</bytes><last_modified>2026-11-24T19:54:27.863090</last_modified></container>` + "\n" +
		`<subdir name="x/" />` + "\n</account>"
	if err != nil || string(got) != want {
		t.Errorf("account XML:\n%s\nwant\n%s", got, want)
	}
	if got := string(accountXML(nil, "AUTH_x")); got != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<account name="AUTH_x">`+"\n</account>" {
		t.Errorf("empty account XML = %q", got)
	}
}

func TestListingType(t *testing.T) {
	for _, tc := range []struct {
		format, accept, want string
		bad                  bool
	}{
		{"", "", typePlain, false},
		{"json", "application/xml", typeJSON, false},
		{"XML", "", typeXML, false},
		{"bogus", "", typePlain, false},
		{"", "application/json", typeJSON, false},
		{"", "*/*", typePlain, false},
		{"", "text/xml", typeTXML, false},
		{"", "application/*", typeJSON, false},
		{"", "text/html", "", false},
		{"", "application/json;q=0.5, application/xml;q=0.9", typeXML, false},
		{"", "text/plain;q=0, application/json", typeJSON, false},
		{"", "garbage", "", true},
	} {
		got, err := listingType(tc.format, tc.accept)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("listingType(%q, %q) = %q, %v; want %q", tc.format, tc.accept, got, err, tc.want)
		}
	}
}
