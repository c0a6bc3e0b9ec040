package filter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	nanosPerSecond = int64(time.Second)
	secondsPerDay  = 86400
	nanosPerDay    = secondsPerDay * nanosPerSecond
)

var (
	errDateSyntax = errors.New("want a date as YYYY-MM-DD")
	errTSSyntax   = errors.New("want a timestamp as YYYY-MM-DD[ HH:MM[:SS[.fraction]]][Z|±HH[:MM]]")
	errTSRange    = errors.New("timestamp outside the nanosecond range (years 1678-2261)")
)

// parseDateText reads YYYY-MM-DD into days since the Unix epoch.
func parseDateText(s string) (int32, error) {
	y, m, d, rest, ok := scanDate(s)
	if !ok || rest != "" {
		return 0, errDateSyntax
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != m {
		return 0, fmt.Errorf("%q is not a calendar date", s)
	}
	return int32(t.Unix() / secondsPerDay), nil
}

// scanDate reads a leading YYYY-MM-DD (one- or two-digit month and day are
// accepted, as arrow-rs does).
func scanDate(s string) (y, m, d int, rest string, ok bool) {
	if len(s) < 8 {
		return 0, 0, 0, "", false
	}
	y, n := scanDigits(s, 4, 4)
	if n == 0 || len(s) <= n || s[n] != '-' {
		return 0, 0, 0, "", false
	}
	s = s[n+1:]
	if m, n = scanDigits(s, 1, 2); n == 0 || len(s) <= n || s[n] != '-' {
		return 0, 0, 0, "", false
	}
	s = s[n+1:]
	if d, n = scanDigits(s, 1, 2); n == 0 {
		return 0, 0, 0, "", false
	}
	return y, m, d, s[n:], true
}

// scanDigits reads between lo and hi leading ASCII digits; n is 0 on failure.
func scanDigits(s string, lo, hi int) (v, n int) {
	for n < len(s) && n < hi && isDigit(s[n]) {
		v = v*10 + int(s[n]-'0')
		n++
	}
	if n < lo {
		return 0, 0
	}
	return v, n
}

// parseTimestampText reads an ISO-8601-like timestamp into UTC nanoseconds.
// Text without a zone is taken as UTC.
func parseTimestampText(s string) (int64, error) {
	y, mo, d, rest, ok := scanDate(s)
	if !ok {
		return 0, errTSSyntax
	}
	var hh, mi, ss, frac int
	offset := 0 // seconds east of UTC
	if rest != "" && (rest[0] == ' ' || rest[0] == 'T' || rest[0] == 't') && len(rest) > 1 && isDigit(rest[1]) {
		rest = rest[1:]
		var n int
		if hh, n = scanDigits(rest, 1, 2); n == 0 || len(rest) <= n || rest[n] != ':' {
			return 0, errTSSyntax
		}
		rest = rest[n+1:]
		if mi, n = scanDigits(rest, 2, 2); n == 0 {
			return 0, errTSSyntax
		}
		rest = rest[n:]
		if rest != "" && rest[0] == ':' {
			if ss, n = scanDigits(rest[1:], 2, 2); n == 0 {
				return 0, errTSSyntax
			}
			rest = rest[1+n:]
			if rest != "" && rest[0] == '.' {
				digits, n := scanDigits(rest[1:], 1, 9)
				if n == 0 {
					return 0, errTSSyntax
				}
				frac = digits
				for k := n; k < 9; k++ {
					frac *= 10
				}
				rest = rest[1+n:]
			}
		}
	}
	rest = strings.TrimPrefix(rest, " ")
	switch {
	case rest == "":
	case rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC"):
	case rest[0] == '+' || rest[0] == '-':
		zh, n := scanDigits(rest[1:], 2, 2)
		if n == 0 {
			return 0, errTSSyntax
		}
		z := rest[1+n:]
		zm := 0
		if z != "" {
			z = strings.TrimPrefix(z, ":")
			if zm, n = scanDigits(z, 2, 2); n == 0 || n != len(z) {
				return 0, errTSSyntax
			}
		}
		if zh > 23 || zm > 59 {
			return 0, errTSSyntax
		}
		offset = zh*3600 + zm*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, errTSSyntax
	}
	if hh > 23 || mi > 59 || ss > 59 {
		return 0, errTSSyntax
	}
	t := time.Date(y, time.Month(mo), d, hh, mi, ss, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != mo {
		return 0, fmt.Errorf("%q is not a calendar date", s)
	}
	sec := t.Unix() - int64(offset)
	if sec < math.MinInt64/nanosPerSecond+1 || sec > math.MaxInt64/nanosPerSecond-1 {
		return 0, errTSRange
	}
	return sec*nanosPerSecond + int64(frac), nil
}

func formatDate(days int32) string {
	return time.Unix(int64(days)*secondsPerDay, 0).UTC().Format("2006-01-02")
}

func formatTimestamp(nanos int64) string {
	return time.Unix(0, nanos).UTC().Format("2006-01-02 15:04:05.999999999")
}

var intervalUnits = map[string]struct {
	months, days int64
	nanos        int64
}{
	"year": {months: 12}, "month": {months: 1}, "week": {days: 7}, "day": {days: 1},
	"hour": {nanos: int64(time.Hour)}, "minute": {nanos: int64(time.Minute)},
	"second": {nanos: nanosPerSecond}, "millisecond": {nanos: int64(time.Millisecond)},
	"microsecond": {nanos: int64(time.Microsecond)}, "nanosecond": {nanos: 1},
}

// parseIntervalText reads "<n> <unit> [<n> <unit> ...]" with integer counts.
func parseIntervalText(s string) (months, days int32, nanos int64, err error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, 0, 0, errors.New("want an interval as '<count> <unit> [...]', e.g. '1 day 2 hours'")
	}
	var m, d, ns int64
	for i := 0; i < len(f); i += 2 {
		n, perr := strconv.ParseInt(f[i], 10, 64)
		if perr != nil {
			return 0, 0, 0, fmt.Errorf("interval count %q is not an integer", f[i])
		}
		unit := strings.TrimSuffix(strings.ToLower(f[i+1]), "s")
		u, ok := intervalUnits[unit]
		if !ok {
			return 0, 0, 0, fmt.Errorf("unknown interval unit %q", f[i+1])
		}
		var ok1, ok2, ok3 bool
		m, ok1 = addMul(m, n, u.months)
		d, ok2 = addMul(d, n, u.days)
		ns, ok3 = addMul(ns, n, u.nanos)
		if !ok1 || !ok2 || !ok3 || m != int64(int32(m)) || d != int64(int32(d)) {
			return 0, 0, 0, errors.New("interval out of range")
		}
	}
	return int32(m), int32(d), ns, nil
}

// addMul returns acc + n*k, reporting overflow.
func addMul(acc, n, k int64) (int64, bool) {
	if k == 0 || n == 0 {
		return acc, true
	}
	p := n * k
	if p/k != n {
		return 0, false
	}
	s := acc + p
	if (s > acc) != (p > 0) {
		return 0, false
	}
	return s, true
}

func formatInterval(months, days int32, nanos int64) string {
	var parts []string
	add := func(v int64, unit string) {
		if v != 0 {
			parts = append(parts, strconv.FormatInt(v, 10)+" "+unit)
		}
	}
	add(int64(months), "months")
	add(int64(days), "days")
	// Split the time part into the largest units that divide it exactly,
	// so "2 hours 30 minutes" prints as such, not as nanoseconds.
	rest := nanos
	for _, u := range []struct {
		name string
		ns   int64
	}{{"hours", int64(time.Hour)}, {"minutes", int64(time.Minute)}, {"seconds", nanosPerSecond},
		{"milliseconds", int64(time.Millisecond)}, {"microseconds", int64(time.Microsecond)}, {"nanoseconds", 1}} {
		add(rest/u.ns, u.name)
		rest %= u.ns
	}
	if len(parts) == 0 {
		return "0 days"
	}
	return strings.Join(parts, " ")
}
