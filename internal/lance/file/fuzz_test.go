package file

import (
	"os"
	"strings"
	"testing"
)

// FuzzReadFooter feeds arbitrary tails to the footer parser.
func FuzzReadFooter(f *testing.F) {
	f.Add(smallFile(f, 20))
	f.Add(make([]byte, footerLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < footerLen {
			_, err := parseFooter(b, uint64(len(b)))
			if err == nil {
				t.Fatal("short input accepted")
			}
			return
		}
		ft, err := parseFooter(b[len(b)-footerLen:], uint64(len(b)))
		if err != nil {
			return
		}
		// Whatever is accepted must describe tables inside the file.
		limit := uint64(len(b)) - footerLen
		if ft.cmoStart+16*uint64(ft.numColumns) > limit || ft.gboStart+16*uint64(ft.numGlobal) > limit {
			t.Fatalf("accepted footer %+v for %d bytes", ft, len(b))
		}
	})
}

// FuzzOpen opens arbitrary bytes and, if that works, reads rows. Errors are
// fine; panics (or the "internal error" a recovered panic becomes) are not.
func FuzzOpen(f *testing.F) {
	f.Add(smallFile(f, 30))
	f.Add(smallFile(f, 300))
	if b, err := os.ReadFile("testdata/stock-2.0.lance"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := openAndRead(b, ReaderOptions{Path: "fuzz", MaxDecodeBytes: 32 << 20, TailSize: 4096})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatal(err)
		}
	})
}
