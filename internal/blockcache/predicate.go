package blockcache

import "strings"

// LanceImmutable is the default Config.Cacheable: it reports whether key
// names a file that Lance or Sarissa writes once under a name never reused,
// so its content can be cached for as long as it exists. The key may sit
// under any table root ("db/t.lance/data/x.lance"); only its last segments
// are looked at:
//
//   - data/<name>.lance: data files, named by a fresh UUID.
//   - _deletions/<name>: deletion files, named by fragment, read version and
//     a random id.
//   - _transactions/<name>: transaction files. A committer may rewrite its
//     own file before its manifest lands, but nobody reads it until a
//     committed manifest refers to it, and from then on it never changes.
//   - _versions/<digits>.manifest: committed manifests, created by
//     PutIfAbsent. Not _latest.manifest (Lance's V1 pointer, rewritten on
//     every commit), not staged "<v>.manifest-<uuid>" or detached
//     "d<v>.manifest" files, which readers of the main lineage never open.
//   - _sarissa_indices/_catalog/<20 digits>.json: index catalog versions,
//     created by PutIfAbsent and never rewritten.
//   - _sarissa_indices/<index>/<uuid>/index.ivf: index segment files.
//
// Everything else is treated as mutable, including any other name under
// _sarissa_indices: a file added there later (a pointer, a lock, a staging
// area) must not be cached by accident, while an immutable one missed here
// costs only cache misses. Tags (_refs/tags), which Lance overwrites, and
// names starting with '.' (temporary files) are never cacheable.
func LanceImmutable(key string) bool {
	segs := strings.Split(key, "/")
	n := len(segs)
	if n < 2 {
		return false
	}
	name := segs[n-1]
	if name == "" || name[0] == '.' {
		return false
	}
	switch segs[n-2] {
	case "data":
		stem, ok := strings.CutSuffix(name, ".lance")
		return ok && stem != ""
	case "_deletions", "_transactions":
		return true
	case "_versions":
		digits, ok := strings.CutSuffix(name, ".manifest")
		return ok && allDigits(digits)
	case "_catalog":
		digits, ok := strings.CutSuffix(name, ".json")
		return ok && len(digits) == 20 && allDigits(digits) && n >= 3 && segs[n-3] == indexDir
	}
	// _sarissa_indices/<index>/<uuid>/index.ivf
	return n >= 4 && name == "index.ivf" && segs[n-4] == indexDir &&
		segs[n-3] != "" && segs[n-3] != "_catalog" && segs[n-2] != ""
}

// indexDir is ivf.IndexDir, repeated so that the storage layer does not
// import the index code; predicate_test.go checks they agree.
const indexDir = "_sarissa_indices"

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
