package objstore

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidKey reports a key or prefix that no implementation accepts.
var ErrInvalidKey = errors.New("invalid object key")

// ValidateKey reports whether key is a usable object key. Every implementation
// calls it first, so a key means the same thing on every backend: the
// filesystem maps segments to path elements and Azure treats '\' as '/', so
// anything that could escape the root or alias another key is refused.
//
// A key is non-empty valid UTF-8 without control characters or backslashes,
// does not start with '/', and has no empty, "." or ".." segments (so no
// trailing or doubled '/').
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix may be passed to List. The empty
// prefix lists everything. A prefix is a key, a key followed by '/', or a key
// whose last segment is cut short ("a/b" matches "a/bc"), so its complete
// segments obey ValidateKey's rules and its final partial segment may be
// anything allowed in a key, including empty.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(prefix, seg); err != nil {
			return err
		}
	}
	return nil
}

func checkChars(key string) error {
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: leading '/'", ErrInvalidKey, key)
	}
	for i, r := range key {
		switch {
		case r == '\\':
			return fmt.Errorf("%w %q: backslash at byte %d", ErrInvalidKey, key, i)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w %q: control character %#x at byte %d", ErrInvalidKey, key, r, i)
		}
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch seg {
	case "":
		return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
	case ".", "..":
		return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, key, seg)
	}
	return nil
}
