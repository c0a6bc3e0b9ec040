package lance

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Manifest file framing (rust/lance-table/src/io/manifest.rs):
//
//	[u32 len][IndexSection]        optional, Manifest.index_section = offset of len
//	[u32 len][Transaction]         optional, Manifest.transaction_section
//	[u32 len][Manifest]
//	[i64 offset of Manifest len][i16 major][i16 minor]["LANC"]
const (
	manifestMagic     = "LANC"
	manifestFooterLen = 16
	// manifestPrefetch is how much of the file's tail the first read fetches;
	// almost every manifest fits, so opening a version is one range GET.
	manifestPrefetch = 64 << 10
	manifestMajor    = 0
	// manifestMinor is what current Lance writes; readers never check it.
	manifestMinor = 2
)

// unmarshalOpts drops fields we do not know, as Lance (prost) does: a
// manifest we write must not carry forward fields whose meaning we cannot
// maintain. Features that matter for correctness are gated by feature flags,
// which we check.
var unmarshalOpts = proto.UnmarshalOptions{DiscardUnknown: true}

// marshalOpts makes encoding reproducible (map order) for tests and caches.
var marshalOpts = proto.MarshalOptions{Deterministic: true}

// Manifest is one decoded manifest file. The decoded protobuf is shared:
// callers must treat it and everything it points to as read-only.
type Manifest struct {
	pb          *tablepb.Manifest
	key         string // full object key, for errors and section reads
	size        int64
	manifestPos int64 // offset of the manifest message's length prefix

	// tail caches the file's bytes from tailOff to the end. Sections inside
	// it are served without I/O; others are fetched from bucket on demand.
	tail    []byte
	tailOff int64
	bucket  objstore.Bucket // nil when the whole file was decoded from memory
}

// Proto returns the decoded manifest message (read-only).
func (m *Manifest) Proto() *tablepb.Manifest { return m.pb }

// Version returns the table version this manifest describes.
func (m *Manifest) Version() uint64 { return m.pb.GetVersion() }

// Key returns the object key of the manifest file.
func (m *Manifest) Key() string { return m.key }

// Size returns the manifest file's size in bytes.
func (m *Manifest) Size() int64 { return m.size }

// Timestamp returns the commit time recorded in the manifest (zero if none).
func (m *Manifest) Timestamp() time.Time {
	ts := m.pb.GetTimestamp()
	if ts == nil {
		return time.Time{}
	}
	return time.Unix(ts.GetSeconds(), int64(ts.GetNanos())).UTC()
}

// DecodeManifest decodes a complete manifest file held in memory. key only
// names the file in errors.
func DecodeManifest(key string, data []byte) (*Manifest, error) {
	size := int64(len(data))
	pos, err := parseManifestFooter(key, size, data)
	if err != nil {
		return nil, err
	}
	return decodeManifestAt(key, size, data, 0, pos)
}

// readManifest reads and decodes the manifest at key. size < 0 means unknown
// (one Stat). The common case is a single range read of the file's tail.
func readManifest(ctx context.Context, b objstore.Bucket, key string, size int64) (*Manifest, error) {
	if size < 0 {
		a, err := b.Stat(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("stat manifest: %w", err)
		}
		size = a.Size
	}
	if size < manifestFooterLen {
		return nil, corruptf(key, "file is %d bytes, shorter than the %d-byte footer", size, manifestFooterLen)
	}
	off := max(0, size-manifestPrefetch)
	tail, err := objstore.ReadRange(ctx, b, key, off, size-off)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	pos, err := parseManifestFooter(key, size, tail)
	if err != nil {
		return nil, err
	}
	if pos < off {
		head, err := objstore.ReadRange(ctx, b, key, pos, off-pos)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		tail = append(head, tail...)
		off = pos
	}
	m, err := decodeManifestAt(key, size, tail, off, pos)
	if err != nil {
		return nil, err
	}
	m.bucket = b
	return m, nil
}

// parseManifestFooter checks the 16-byte footer at the end of tail (whose
// last byte is the file's last byte) and returns the offset of the manifest
// message's length prefix.
func parseManifestFooter(key string, size int64, tail []byte) (int64, error) {
	if size < manifestFooterLen || len(tail) < manifestFooterLen {
		return 0, corruptf(key, "file is %d bytes, shorter than the %d-byte footer", size, manifestFooterLen)
	}
	f := tail[len(tail)-manifestFooterLen:]
	if string(f[12:16]) != manifestMagic {
		return 0, corruptf(key, "bad magic %q at end of file, want %q", f[12:16], manifestMagic)
	}
	if major := int16(binary.LittleEndian.Uint16(f[8:10])); major != manifestMajor {
		minor := int16(binary.LittleEndian.Uint16(f[10:12]))
		return 0, corruptf(key, "unsupported manifest format version %d.%d", major, minor)
	}
	pos := int64(binary.LittleEndian.Uint64(f[0:8]))
	if pos < 0 || pos > size-manifestFooterLen-4 {
		return 0, corruptf(key, "manifest offset %d outside file of %d bytes", pos, size)
	}
	return pos, nil
}

// decodeManifestAt decodes the manifest message whose length prefix is at
// file offset pos; buf holds the file's bytes from bufOff to the end.
func decodeManifestAt(key string, size int64, buf []byte, bufOff, pos int64) (*Manifest, error) {
	rel := pos - bufOff
	if rel < 0 || rel+4 > int64(len(buf)) {
		return nil, corruptf(key, "manifest offset %d not covered by the bytes read", pos)
	}
	want := size - manifestFooterLen - pos - 4
	if got := int64(binary.LittleEndian.Uint32(buf[rel : rel+4])); got != want {
		return nil, corruptf(key, "manifest length %d at offset %d, but %d bytes lie before the footer", got, pos, want)
	}
	pb := &tablepb.Manifest{}
	if err := unmarshalOpts.Unmarshal(buf[rel+4:rel+4+want], pb); err != nil {
		return nil, corruptf(key, "decode manifest protobuf: %v", err)
	}
	for _, s := range []struct {
		name string
		off  *uint64
	}{{"index section", pb.IndexSection}, {"transaction section", pb.TransactionSection}} {
		if s.off != nil && *s.off > uint64(pos) {
			return nil, corruptf(key, "%s offset %d is past the manifest at %d", s.name, *s.off, pos)
		}
	}
	return &Manifest{pb: pb, key: key, size: size, manifestPos: pos, tail: buf, tailOff: bufOff}, nil
}

// readSection returns the body of the length-prefixed message at file
// offset pos. Sections lie before the manifest message.
func (m *Manifest) readSection(ctx context.Context, pos uint64, what string) ([]byte, error) {
	if pos > math.MaxInt64-4 || int64(pos)+4 > m.manifestPos {
		return nil, corruptf(m.key, "%s offset %d is past the manifest at %d", what, pos, m.manifestPos)
	}
	p := int64(pos)
	hdr, err := m.bytesAt(ctx, p, 4, what)
	if err != nil {
		return nil, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr))
	if p+4+n > m.manifestPos {
		return nil, corruptf(m.key, "%s at offset %d has length %d, overlapping the manifest at %d", what, pos, n, m.manifestPos)
	}
	return m.bytesAt(ctx, p+4, n, what)
}

// bytesAt returns n bytes at file offset off, from the cached tail when it
// covers them.
func (m *Manifest) bytesAt(ctx context.Context, off, n int64, what string) ([]byte, error) {
	if off >= m.tailOff {
		return m.tail[off-m.tailOff : off-m.tailOff+n], nil
	}
	if m.bucket == nil {
		return nil, corruptf(m.key, "%s at offset %d lies outside the decoded bytes", what, off)
	}
	b, err := objstore.ReadRange(ctx, m.bucket, m.key, off, n)
	if err != nil {
		return nil, fmt.Errorf("read %s of manifest: %w", what, err)
	}
	return b, nil
}

// IndexSectionBytes returns the encoded IndexSection message exactly as
// stored, or nil if the manifest has no index section. Passing these bytes
// through keeps index metadata we do not interpret intact.
func (m *Manifest) IndexSectionBytes(ctx context.Context) ([]byte, error) {
	if m.pb.IndexSection == nil {
		return nil, nil
	}
	return m.readSection(ctx, *m.pb.IndexSection, "index section")
}

// Indices decodes the manifest's index metadata (nil if there is none).
func (m *Manifest) Indices(ctx context.Context) ([]*tablepb.IndexMetadata, error) {
	raw, err := m.IndexSectionBytes(ctx)
	if err != nil || raw == nil {
		return nil, err
	}
	sec := &tablepb.IndexSection{}
	if err := unmarshalOpts.Unmarshal(raw, sec); err != nil {
		return nil, corruptf(m.key, "decode index section: %v", err)
	}
	return sec.GetIndices(), nil
}

// inlineTransaction decodes the transaction stored inside the manifest, or
// returns nil if the manifest has none.
func (m *Manifest) inlineTransaction(ctx context.Context) (*tablepb.Transaction, error) {
	if m.pb.TransactionSection == nil {
		return nil, nil
	}
	raw, err := m.readSection(ctx, *m.pb.TransactionSection, "transaction section")
	if err != nil {
		return nil, err
	}
	txn := &tablepb.Transaction{}
	if err := unmarshalOpts.Unmarshal(raw, txn); err != nil {
		return nil, corruptf(m.key, "decode transaction section: %v", err)
	}
	return txn, nil
}

// encodeManifest frames m with the optional sections and footer. It sets
// m.IndexSection and m.TransactionSection to where the sections land.
// indexSection is an encoded IndexSection written byte for byte; nil means
// none. txn nil means no inline transaction.
func encodeManifest(m *tablepb.Manifest, indexSection []byte, txn *tablepb.Transaction) ([]byte, error) {
	var buf bytes.Buffer
	m.IndexSection, m.TransactionSection = nil, nil
	if indexSection != nil {
		pos := uint64(buf.Len())
		if err := writeLenPrefixed(&buf, indexSection); err != nil {
			return nil, fmt.Errorf("encode index section: %w", err)
		}
		m.IndexSection = &pos
	}
	if txn != nil {
		raw, err := marshalOpts.Marshal(txn)
		if err != nil {
			return nil, fmt.Errorf("encode transaction section: %w", err)
		}
		pos := uint64(buf.Len())
		if err := writeLenPrefixed(&buf, raw); err != nil {
			return nil, fmt.Errorf("encode transaction section: %w", err)
		}
		m.TransactionSection = &pos
	}
	raw, err := marshalOpts.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	pos := buf.Len()
	if err := writeLenPrefixed(&buf, raw); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	var footer [manifestFooterLen]byte
	binary.LittleEndian.PutUint64(footer[0:8], uint64(pos))
	binary.LittleEndian.PutUint16(footer[8:10], manifestMajor)
	binary.LittleEndian.PutUint16(footer[10:12], manifestMinor)
	copy(footer[12:], manifestMagic)
	buf.Write(footer[:])
	return buf.Bytes(), nil
}

func writeLenPrefixed(buf *bytes.Buffer, msg []byte) error {
	if uint64(len(msg)) > math.MaxUint32 {
		return fmt.Errorf("message of %d bytes exceeds the u32 length prefix", len(msg))
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(msg)))
	buf.Write(n[:])
	buf.Write(msg)
	return nil
}
