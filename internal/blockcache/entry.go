package blockcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// kind tells the two things the cache stores apart.
type kind uint8

const (
	kindBlock kind = 1 // one aligned block of an object's content
	kindAttrs kind = 2 // an object's attributes (size, ETag, modification time)
)

// cacheKey identifies one cached item in every tier. It is comparable, so
// the memory tier uses it as is, and appendBinary gives the unambiguous byte
// form the disk tier stores in each entry and hashes into the file name.
//
// Attributes are keyed by (namespace, object key) alone: they are what
// tells a reader the ETag. Blocks add the ETag, so a new version of an
// object can never be served from an old version's blocks, and the block
// size, so decorators with different block sizes can share tiers.
type cacheKey struct {
	kind      kind
	ns        string
	key       string
	etag      string // blocks only
	blockSize int64  // blocks only
	index     int64  // blocks only
}

func attrsKey(ns, key string) cacheKey { return cacheKey{kind: kindAttrs, ns: ns, key: key} }

// appendBinary appends the key as kind, then length-prefixed namespace and
// object key, then (blocks only) length-prefixed ETag, block size and index
// as uvarints. Length prefixes make the form unambiguous whatever bytes a
// namespace or ETag contains.
func (k cacheKey) appendBinary(dst []byte) []byte {
	dst = append(dst, byte(k.kind))
	dst = appendString(dst, k.ns)
	dst = appendString(dst, k.key)
	if k.kind == kindBlock {
		dst = appendString(dst, k.etag)
		dst = binary.AppendUvarint(dst, uint64(k.blockSize))
		dst = binary.AppendUvarint(dst, uint64(k.index))
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errCorrupt = errors.New("corrupt cache entry")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// parseCacheKey is the inverse of appendBinary; it rejects trailing bytes
// so that exactly one byte form maps to each key.
func parseCacheKey(b []byte) (cacheKey, error) {
	var k cacheKey
	if len(b) == 0 {
		return k, corruptf("empty key")
	}
	k.kind, b = kind(b[0]), b[1:]
	var err error
	if k.ns, b, err = readString(b); err != nil {
		return k, err
	}
	if k.key, b, err = readString(b); err != nil {
		return k, err
	}
	switch k.kind {
	case kindAttrs:
	case kindBlock:
		if k.etag, b, err = readString(b); err != nil {
			return k, err
		}
		var bs, idx uint64
		if bs, b, err = readUvarint(b); err != nil {
			return k, err
		}
		if idx, b, err = readUvarint(b); err != nil {
			return k, err
		}
		if bs == 0 || bs > maxBlockSize || idx > 1<<62 {
			return k, corruptf("block size %d or index %d out of range", bs, idx)
		}
		k.blockSize, k.index = int64(bs), int64(idx)
	default:
		return k, corruptf("unknown kind %d", k.kind)
	}
	if len(b) != 0 {
		return k, corruptf("%d trailing key bytes", len(b))
	}
	return k, nil
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, corruptf("bad varint")
	}
	// Refuse padded encodings, so that each key has one byte form and
	// so one file name.
	var minimal [binary.MaxVarintLen64]byte
	if n != binary.PutUvarint(minimal[:], v) {
		return 0, nil, corruptf("non-minimal varint")
	}
	return v, b[n:], nil
}

func readString(b []byte) (string, []byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return "", nil, err
	}
	if n > uint64(len(b)) {
		return "", nil, corruptf("string of %d bytes overruns %d", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}

// On-disk entry layout (docs/format/block-cache.md), little-endian:
//
//	0   4  magic "SBLK"
//	4   2  format version (1)
//	6   2  reserved, zero
//	8   4  key length K
//	12  4  payload length P
//	16  4  CRC-32C of the payload
//	20  4  CRC-32C of bytes 0..20 followed by the key
//	24  K  cache key (cacheKey.appendBinary)
//	24+K P payload: block bytes, or encoded attributes
//
// The file is exactly 24+K+P bytes. The header checksum lets a restart
// validate an entry by reading only its head; the payload checksum is
// checked on every read, so a torn or bit-rotted file is never served.
const (
	entryMagic      = "SBLK"
	entryVersion    = 1
	entryHeaderSize = 24
	maxKeyLen       = 64 << 10
	maxBlockSize    = 64 << 20
	maxPayloadLen   = maxBlockSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeEntry returns the file content for key and payload.
func encodeEntry(key cacheKey, payload []byte) []byte {
	return append(encodeHead(key, payload), payload...)
}

// encodeHead returns the header and key of the entry for key and payload:
// everything but the payload, so a writer need not copy the payload.
func encodeHead(key cacheKey, payload []byte) []byte {
	kb := key.appendBinary(nil)
	buf := make([]byte, entryHeaderSize, entryHeaderSize+len(kb))
	copy(buf, entryMagic)
	binary.LittleEndian.PutUint16(buf[4:], entryVersion)
	binary.LittleEndian.PutUint32(buf[8:], uint32(len(kb)))
	binary.LittleEndian.PutUint32(buf[12:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[16:], crc32.Checksum(payload, castagnoli))
	hc := crc32.Update(crc32.Checksum(buf[:20], castagnoli), castagnoli, kb)
	binary.LittleEndian.PutUint32(buf[20:], hc)
	return append(buf, kb...)
}

// entryHeader is the fixed head of an entry, parsed.
type entryHeader struct {
	keyLen, payloadLen int
	payloadCRC         uint32
	headerCRC          uint32
}

func (h entryHeader) size() int64 { return int64(entryHeaderSize + h.keyLen + h.payloadLen) }

func parseHeader(b []byte) (entryHeader, error) {
	var h entryHeader
	if len(b) < entryHeaderSize {
		return h, corruptf("%d bytes, shorter than the %d byte header", len(b), entryHeaderSize)
	}
	if string(b[:4]) != entryMagic {
		return h, corruptf("bad magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != entryVersion {
		return h, corruptf("format version %d, this build reads %d", v, entryVersion)
	}
	if r := binary.LittleEndian.Uint16(b[6:]); r != 0 {
		return h, corruptf("reserved field %#x", r)
	}
	kl, pl := binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
	if kl == 0 || kl > maxKeyLen || pl > maxPayloadLen {
		return h, corruptf("key length %d or payload length %d out of range", kl, pl)
	}
	h.keyLen, h.payloadLen = int(kl), int(pl)
	h.payloadCRC = binary.LittleEndian.Uint32(b[16:])
	h.headerCRC = binary.LittleEndian.Uint32(b[20:])
	return h, nil
}

// checkHead validates the header checksum over head, which holds at least
// the header and the key, and returns the parsed key.
func (h entryHeader) checkHead(head []byte) (cacheKey, error) {
	end := entryHeaderSize + h.keyLen
	if len(head) < end {
		return cacheKey{}, corruptf("%d bytes, the header and key need %d", len(head), end)
	}
	kb := head[entryHeaderSize:end]
	if got := crc32.Update(crc32.Checksum(head[:20], castagnoli), castagnoli, kb); got != h.headerCRC {
		return cacheKey{}, corruptf("header checksum %#x, want %#x", got, h.headerCRC)
	}
	return parseCacheKey(kb)
}

// decodeEntry validates a whole entry file and returns its key and payload;
// the payload aliases data.
func decodeEntry(data []byte) (cacheKey, []byte, error) {
	h, err := parseHeader(data)
	if err != nil {
		return cacheKey{}, nil, err
	}
	if int64(len(data)) != h.size() {
		return cacheKey{}, nil, corruptf("%d bytes, the header says %d", len(data), h.size())
	}
	key, err := h.checkHead(data)
	if err != nil {
		return cacheKey{}, nil, err
	}
	payload := data[entryHeaderSize+h.keyLen:]
	if got := crc32.Checksum(payload, castagnoli); got != h.payloadCRC {
		return cacheKey{}, nil, corruptf("payload checksum %#x, want %#x", got, h.payloadCRC)
	}
	return key, payload, nil
}

// encodeAttrs is the payload of an attributes entry: uvarint size, then the
// length-prefixed ETag and modification time (time.Time's binary form, which
// keeps the instant and the zone offset). The object key is in the cache key.
func encodeAttrs(a objstore.Attrs) ([]byte, error) {
	tm, err := a.LastModified.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode modification time of %q: %w", a.Key, err)
	}
	if a.Size < 0 {
		return nil, fmt.Errorf("encode attributes of %q: negative size %d", a.Key, a.Size)
	}
	out := binary.AppendUvarint(nil, uint64(a.Size))
	out = appendString(out, a.ETag)
	return appendString(out, string(tm)), nil
}

func decodeAttrs(key string, b []byte) (objstore.Attrs, error) {
	size, b, err := readUvarint(b)
	if err != nil {
		return objstore.Attrs{}, err
	}
	etag, b, err := readString(b)
	if err != nil {
		return objstore.Attrs{}, err
	}
	tm, b, err := readString(b)
	if err != nil {
		return objstore.Attrs{}, err
	}
	if len(b) != 0 || size > 1<<62 || etag == "" {
		return objstore.Attrs{}, corruptf("attributes: %d trailing bytes, size %d, ETag %q", len(b), size, etag)
	}
	var lm time.Time
	if err := lm.UnmarshalBinary([]byte(tm)); err != nil {
		return objstore.Attrs{}, corruptf("attributes: modification time: %v", err)
	}
	return objstore.Attrs{Key: key, Size: int64(size), ETag: etag, LastModified: lm}, nil
}
