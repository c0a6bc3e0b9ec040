// Package vector holds Sarissa's vector math: distance kernels shaped as
// block operations (one query against many rows stored back to back), the
// float16 conversion feeding them, and top-k selection with merging of
// partial results.
//
// Distances follow LanceDB (lance-linalg) exactly, so that `_distance` values
// agree with stock LanceDB:
//
//   - L2 is the squared Euclidean distance Σ(x−y)², without a square root;
//   - Cosine is 1 − x·y / (‖x‖·‖y‖), NaN when either vector has norm zero;
//   - Dot is 1 − x·y;
//   - Hamming counts the differing bits of two byte strings.
//
// Smaller is nearer for every metric. Float kernels compute in float32 with
// fused multiply-adds; results can differ from LanceDB's in the last few ulps
// because the summation order differs.
//
// Two implementations exist. Builds with GOEXPERIMENT=simd on amd64 use
// simd/archsimd (AVX-512 or AVX2+FMA, chosen once at start-up from the CPU's
// features); every other build uses the portable Go kernels. Both must agree
// within rounding: `make test` runs this package's tests in both builds.
//
// The block functions panic when slice lengths do not fit together (rows must
// hold exactly len(out) rows of len(q) values): lengths are computed by the
// caller, so a mismatch is a programming error, like an out-of-range index.
package vector

import (
	"fmt"
	"strings"
)

// Metric is a distance function.
type Metric uint8

// Metrics, named as LanceDB's distance_type values.
const (
	L2 Metric = iota + 1
	Cosine
	Dot
	Hamming
)

// String returns the LanceDB name of m ("l2", "cosine", "dot", "hamming").
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case Cosine:
		return "cosine"
	case Dot:
		return "dot"
	case Hamming:
		return "hamming"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// ParseMetric reads a distance type the way Lance does: case-insensitive,
// with "euclidean" as another name for l2.
func ParseMetric(s string) (Metric, error) {
	switch strings.ToLower(s) {
	case "l2", "euclidean":
		return L2, nil
	case "cosine":
		return Cosine, nil
	case "dot":
		return Dot, nil
	case "hamming":
		return Hamming, nil
	}
	return 0, fmt.Errorf("distance type %q is not supported (use l2, cosine, dot or hamming)", s)
}
