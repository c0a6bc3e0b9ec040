package lance

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// Directory names inside a table root, as Lance lays them out.
const (
	versionsDir     = "_versions"
	transactionsDir = "_transactions"
	deletionsDir    = "_deletions"
	dataDir         = "data"
	tagsDir         = "_refs/tags"

	manifestSuffix = ".manifest"
	// v2NameDigits is the zero-padded width of an inverted V2 version number.
	v2NameDigits = 20
	// detachedVersionBit marks versions off the main lineage; Lance names
	// them "d{v}.manifest". We never read or write them.
	detachedVersionBit = uint64(1) << 63
)

// NamingScheme is how manifest files are named inside _versions/.
type NamingScheme int

const (
	// NamingV1 names version v "_versions/{v}.manifest"; finding the latest
	// version needs a full listing.
	NamingV1 NamingScheme = iota + 1
	// NamingV2 names version v "_versions/{u64::MAX-v:020}.manifest" so that
	// a lexically ordered listing yields the latest version first.
	NamingV2
)

func (s NamingScheme) String() string {
	switch s {
	case NamingV1:
		return "V1"
	case NamingV2:
		return "V2"
	default:
		return fmt.Sprintf("NamingScheme(%d)", int(s))
	}
}

// manifestName returns the path of version v's manifest relative to the
// table root.
func manifestName(s NamingScheme, v uint64) string {
	if s == NamingV1 {
		return versionsDir + "/" + strconv.FormatUint(v, 10) + manifestSuffix
	}
	return fmt.Sprintf("%s/%0*d%s", versionsDir, v2NameDigits, math.MaxUint64-v, manifestSuffix)
}

// parseManifestName parses a file name inside _versions/ (no directory).
// Temporary files, staged manifests ("{v}.manifest-{uuid}"), detached
// versions ("d{v}.manifest") and anything else that is not exactly
// digits + ".manifest" are not manifests of the main lineage: ok is false.
func parseManifestName(name string) (v uint64, scheme NamingScheme, ok bool) {
	digits, found := strings.CutSuffix(name, manifestSuffix)
	if !found || digits == "" {
		return 0, 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	// Lance tells the schemes apart by the width of the number alone.
	if len(digits) == v2NameDigits {
		v, scheme = math.MaxUint64-n, NamingV2
	} else {
		v, scheme = n, NamingV1
	}
	if v == 0 || v&detachedVersionBit != 0 {
		return 0, 0, false
	}
	return v, scheme, true
}

// transactionFileName is the name Lance records in Manifest.transaction_file,
// relative to _transactions/.
func transactionFileName(readVersion uint64, uuid string) string {
	return fmt.Sprintf("%d-%s.txn", readVersion, uuid)
}

// deletionFileName returns the path of a deletion file relative to the
// table root.
func deletionFileName(fragmentID uint64, df *tablepb.DeletionFile) string {
	ext := "arrow"
	if df.GetFileType() == tablepb.DeletionFile_BITMAP {
		ext = "bin"
	}
	return fmt.Sprintf("%s/%d-%d-%d.%s", deletionsDir, fragmentID, df.GetReadVersion(), df.GetId(), ext)
}

// tagFileName returns the path of a tag file relative to the table root.
func tagFileName(name string) string {
	return tagsDir + "/" + name + ".json"
}

// DataFilePath returns the key of a data file relative to the table root,
// given DataFile.path (which Lance stores relative to data/).
func DataFilePath(name string) string {
	return dataDir + "/" + name
}

// NewDataFileName returns a fresh DataFile.path in Lance's naming scheme: a
// 50-character stem (the first 3 bytes of a random UUIDv4 as 24 binary
// digits, then its remaining 13 bytes as 26 hex digits) plus ".lance". The
// binary prefix spreads new files over object-store partitions quickly.
func NewDataFileName(entropy io.Reader) (string, error) {
	u, err := newUUIDBytes(entropy)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(50 + len(".lance"))
	for _, x := range u[:3] {
		for bit := 7; bit >= 0; bit-- {
			b.WriteByte('0' + (x>>bit)&1)
		}
	}
	b.WriteString(hex.EncodeToString(u[3:]))
	b.WriteString(".lance")
	return b.String(), nil
}

// newUUIDBytes reads a random (version 4, RFC 4122 variant) UUID.
func newUUIDBytes(entropy io.Reader) ([16]byte, error) {
	var u [16]byte
	if _, err := io.ReadFull(entropy, u[:]); err != nil {
		return u, fmt.Errorf("read entropy for uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

// newUUID returns a random UUIDv4 in the hyphenated form Lance uses for
// transaction ids.
func newUUID(entropy io.Reader) (string, error) {
	u, err := newUUIDBytes(entropy)
	if err != nil {
		return "", err
	}
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// randomUint64 reads a random 64-bit number (deletion file ids).
func randomUint64(entropy io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(entropy, b[:]); err != nil {
		return 0, fmt.Errorf("read entropy: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
