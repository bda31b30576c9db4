package image

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

func TestSums(t *testing.T) {
	data, _ := io.ReadAll(newNoise(5*sumChunkSize + 3))
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, sumChunkSize - 1, sumChunkSize, sumChunkSize + 1, len(data)} {
		for _, maxWrite := range []int{1 << 10, 64 << 10, 3 * sumChunkSize} {
			if size > 2*sumChunkSize && maxWrite < 64<<10 {
				continue // slow, and nothing new
			}
			s := newSums()
			for p := data[:size]; len(p) > 0; {
				n := min(len(p), 1+rnd.IntN(maxWrite))
				if k, err := s.Write(p[:n]); k != n || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
				}
				p = p[n:]
			}
			s.Close()
			md, sha := md5.Sum(data[:size]), sha512.Sum512(data[:size])
			if got, want := hexSum(s.md), hex.EncodeToString(md[:]); got != want {
				t.Errorf("size %d, writes up to %d: md5 %s, want %s", size, maxWrite, got, want)
			}
			if got, want := hexSum(s.sha), hex.EncodeToString(sha[:]); got != want {
				t.Errorf("size %d, writes up to %d: sha512 %s, want %s", size, maxWrite, got, want)
			}
			if got := s.insp.Result().VirtualSize; got != int64(size) {
				t.Errorf("size %d, writes up to %d: inspected virtual size %d", size, maxWrite, got)
			}
		}
	}
}
