package store_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"3f2504e0-4f89-11d3-9a0c-0305e82c3301":  true,
		"00000000-0000-0000-0000-000000000000":  true,
		"3F2504E0-4F89-11D3-9A0C-0305E82C3301":  false,
		"3f2504e0-4f89-11d3-9a0c-0305e82c330g":  false,
		"3f2504e0-4f89-11d3-9a0c-0305e82c33011": false,
		"3f2504e04f8911d39a0c0305e82c3301":      false,
		"3f2504e0-4f89-11d3-9a0c-0305e82c330":   false,
		"3f2504e0_4f89-11d3-9a0c-0305e82c3301":  false,
		"../../../../../../../../../etc/passwd": false,
		"":                                      false,
	} {
		if got := store.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
		if err := store.CheckID(id); (err == nil) != want || (err != nil && !fault.Is(err, fault.BadRequest)) {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
}

func TestLimit(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 100)
	for _, c := range []struct {
		max     int64
		size    int
		tooBig  bool
		maxRead int // bytes the limited reader may hand on
	}{
		{0, 100, false, 100}, {-1, 100, false, 100}, {100, 100, false, 100},
		{101, 100, false, 100}, {99, 100, true, 99}, {1, 100, true, 1},
	} {
		var out bytes.Buffer
		n, err := io.CopyBuffer(&out, struct{ io.Reader }{store.Limit(bytes.NewReader(data[:c.size]), c.max)}, make([]byte, 7))
		if c.tooBig {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.TooLarge || fe.Msg != store.MsgQuota {
				t.Errorf("Limit(%d) of %d bytes: err = %v, want the quota fault", c.max, c.size, err)
			}
		} else if err != nil {
			t.Errorf("Limit(%d) of %d bytes: %v", c.max, c.size, err)
		}
		if int(n) > c.maxRead || out.Len() > c.maxRead {
			t.Errorf("Limit(%d) handed on %d bytes, want at most %d", c.max, n, c.maxRead)
		}
	}
}

func TestErrFull(t *testing.T) {
	err := store.ErrFull(errors.New("no space left on device"))
	if !fault.Is(err, fault.TooLarge) || err.Msg != store.MsgFull || !strings.Contains(err.Error(), "no space") {
		t.Errorf("ErrFull = %#v", err)
	}
}
