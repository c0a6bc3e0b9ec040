package ivf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"github.com/sarissa-db/sarissa/internal/index/hnsw"
	"github.com/sarissa-db/sarissa/internal/index/kmeans"
	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/index/sq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// TargetPartitionHNSW is LanceDB's target partition size for IVF_HNSW_*
// (lance#4616): one graph per million rows.
const TargetPartitionHNSW = 1 << 20

// HNSW defaults of LanceDB's index builder.
const (
	DefaultHNSWM              = 20
	DefaultHNSWEfConstruction = 300
)

// ParseKind reads a LanceDB index_type (case-insensitive).
func ParseKind(s string) (Kind, error) {
	switch strings.ToUpper(s) {
	case "IVF_FLAT":
		return KindFlat, nil
	case "IVF_PQ":
		return KindPQ, nil
	case "IVF_SQ":
		return KindSQ, nil
	case "IVF_HNSW_SQ":
		return KindHNSWSQ, nil
	case "IVF_RQ", "IVF_HNSW_PQ", "IVF_HNSW_FLAT":
		return 0, fmt.Errorf("%w: index type %s is not supported (supported: IVF_FLAT, IVF_PQ, IVF_SQ, IVF_HNSW_SQ)", ErrInvalid, strings.ToUpper(s))
	}
	return 0, fmt.Errorf("%w: unknown vector index type %q (supported: IVF_FLAT, IVF_PQ, IVF_SQ, IVF_HNSW_SQ)", ErrInvalid, s)
}

// BuildParams are the LanceDB parameters of a vector index build. Zero
// values take LanceDB's defaults.
type BuildParams struct {
	Kind   Kind
	Metric vector.Metric

	NumPartitions       int
	TargetPartitionSize int
	SampleRate          int
	MaxIterations       int

	NumSubVectors int // IVF_PQ
	NumBits       int // IVF_PQ: 8 or 4; IVF_SQ / IVF_HNSW_SQ: 8

	M              int // IVF_HNSW_SQ: neighbours per node
	EfConstruction int // IVF_HNSW_SQ

	Workers int
	Seed    uint64
}

func (p BuildParams) target() int {
	if p.TargetPartitionSize > 0 {
		return p.TargetPartitionSize
	}
	switch p.Kind {
	case KindFlat:
		return TargetPartitionFlat
	case KindHNSWSQ:
		return TargetPartitionHNSW
	}
	return TargetPartitionPQ
}

// Validate checks the parameters against the vector dimension, naming the
// LanceDB parameter at fault.
func (p BuildParams) Validate(dim int) error {
	switch p.Kind {
	case KindFlat, KindPQ, KindSQ, KindHNSWSQ:
	default:
		return fmt.Errorf("%w: unknown index kind %d", ErrInvalid, p.Kind)
	}
	switch p.Metric {
	case vector.L2, vector.Cosine, vector.Dot:
	case vector.Hamming:
		return fmt.Errorf("%w: distance_type hamming is not supported for float vectors", ErrInvalid)
	default:
		return fmt.Errorf("%w: unknown distance_type %d", ErrInvalid, p.Metric)
	}
	if dim <= 0 || dim > maxDim {
		return fmt.Errorf("%w: vector dimension %d out of range (1..%d)", ErrInvalid, dim, maxDim)
	}
	if p.NumPartitions < 0 || p.NumPartitions > MaxPartitions {
		return fmt.Errorf("%w: num_partitions %d out of range (1..%d)", ErrInvalid, p.NumPartitions, MaxPartitions)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"target_partition_size", p.TargetPartitionSize}, {"sample_rate", p.SampleRate}, {"max_iterations", p.MaxIterations},
		{"num_sub_vectors", p.NumSubVectors}, {"num_bits", p.NumBits}, {"m", p.M}, {"ef_construction", p.EfConstruction}} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s must not be negative, got %d", ErrInvalid, f.name, f.v)
		}
	}
	if p.MaxIterations > 10000 {
		return fmt.Errorf("%w: max_iterations %d exceeds 10000", ErrInvalid, p.MaxIterations)
	}
	if p.SampleRate > 1<<16 {
		return fmt.Errorf("%w: sample_rate %d exceeds %d", ErrInvalid, p.SampleRate, 1<<16)
	}
	switch p.Kind {
	case KindPQ:
		m := p.NumSubVectors
		if m == 0 {
			m = pq.DefaultSubVectors(dim)
		}
		if dim%m != 0 {
			return fmt.Errorf("%w: num_sub_vectors %d does not divide the vector dimension %d", ErrInvalid, m, dim)
		}
		bits := p.NumBits
		if bits != 0 && bits != 4 && bits != 8 {
			return fmt.Errorf("%w: num_bits %d is not supported for IVF_PQ (4 or 8)", ErrInvalid, bits)
		}
		if bits == 4 && m%2 != 0 {
			return fmt.Errorf("%w: num_bits 4 needs an even num_sub_vectors, got %d", ErrInvalid, m)
		}
	case KindSQ, KindHNSWSQ:
		if p.NumBits != 0 && p.NumBits != 8 {
			return fmt.Errorf("%w: num_bits %d is not supported for %v (only 8)", ErrInvalid, p.NumBits, p.Kind)
		}
	}
	if p.NumSubVectors != 0 && p.Kind != KindPQ {
		return fmt.Errorf("%w: num_sub_vectors applies to IVF_PQ only, not %v", ErrInvalid, p.Kind)
	}
	if p.Kind == KindHNSWSQ {
		if p.M != 0 && (p.M < 2 || p.M > 512) {
			return fmt.Errorf("%w: m %d out of range (2..512)", ErrInvalid, p.M)
		}
		if p.EfConstruction != 0 && p.EfConstruction > 100000 {
			return fmt.Errorf("%w: ef_construction %d exceeds 100000", ErrInvalid, p.EfConstruction)
		}
	} else if p.M != 0 || p.EfConstruction != 0 {
		return fmt.Errorf("%w: m and ef_construction apply to IVF_HNSW_SQ only, not %v", ErrInvalid, p.Kind)
	}
	return nil
}

// Partitions is the number of partitions a build over rows rows uses:
// NumPartitions, or clamp(rows / target_partition_size, 1, 4096).
func (p BuildParams) Partitions(rows int) int {
	if p.NumPartitions > 0 {
		return p.NumPartitions
	}
	return DefaultPartitions(rows, p.target())
}

func (p BuildParams) sampleRate() int {
	if p.SampleRate > 0 {
		return p.SampleRate
	}
	return kmeans.DefaultSampleRate
}

func (p BuildParams) bits() int {
	if p.NumBits > 0 {
		return p.NumBits
	}
	return 8
}

// SampleRows is how many rows Train wants to see for a build over rows
// rows: sample_rate per partition, and for IVF_PQ sample_rate per codeword.
func (p BuildParams) SampleRows(rows int) int {
	want := p.Partitions(rows) * p.sampleRate()
	if p.Kind == KindPQ {
		want = max(want, (1<<p.bits())*p.sampleRate())
	}
	return min(want, rows)
}

// Model is what a build learns from its sample, shared by every segment
// (delta) of one index: the partition centroids and the quantizer.
type Model struct {
	Kind   Kind
	Metric vector.Metric
	Dim    int
	Quantizer
	Codebook *pq.Codebook // IVF_PQ
	Residual bool         // IVF_PQ with L2: codes encode row − centroid
	SQ       *sq.Quantizer
	HNSW     hnsw.Params // IVF_HNSW_SQ
}

// Train learns a model from sample (rows of dim values) for an index over
// totalRows rows.
func Train(ctx context.Context, sample []float32, dim, totalRows int, p BuildParams) (*Model, error) {
	if err := p.Validate(dim); err != nil {
		return nil, err
	}
	if len(sample) == 0 || len(sample)%dim != 0 {
		return nil, fmt.Errorf("%w: %d sample values are not non-empty rows of dimension %d", ErrInvalid, len(sample), dim)
	}
	rows := len(sample) / dim
	np := p.Partitions(totalRows)
	if np > rows {
		return nil, fmt.Errorf("%w: num_partitions %d needs at least %d rows, the table has %d", ErrInvalid, np, np, rows)
	}
	workers := p.Workers
	if workers <= 0 {
		workers = 2
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x5a55155a))
	m := &Model{Kind: p.Kind, Metric: p.Metric, Dim: dim}
	data := sample
	if p.Metric == vector.Cosine && p.Kind != KindFlat {
		data = normalizedRows(sample, dim)
	}
	q, err := TrainQuantizer(ctx, data, dim, Params{Metric: p.Metric, NumPartitions: np, SampleRate: p.SampleRate,
		MaxIterations: p.MaxIterations, Workers: workers, Rand: rng}, p.target())
	if err != nil {
		return nil, err
	}
	m.Quantizer = *q
	switch p.Kind {
	case KindPQ:
		m.Residual = p.Metric == vector.L2
		train := data
		if m.Residual {
			train = m.residuals(data, q.Assign(data, workers))
		}
		cb, err := pq.Train(ctx, train, dim, pq.Params{SubVectors: p.NumSubVectors, Bits: p.NumBits,
			SampleRate: p.SampleRate, MaxIterations: p.MaxIterations, Workers: workers, Rand: rng})
		if err != nil {
			return nil, fmt.Errorf("train ivf_pq codebooks: %w", err)
		}
		m.Codebook = cb
	case KindSQ, KindHNSWSQ:
		s, err := sq.Train(data)
		if err != nil {
			return nil, fmt.Errorf("train scalar quantizer: %w", err)
		}
		m.SQ = s
		if p.Kind == KindHNSWSQ {
			m.HNSW = hnsw.Params{M: p.M, EfConstruction: p.EfConstruction, Workers: workers, Seed: p.Seed}
			if m.HNSW.M == 0 {
				m.HNSW.M = DefaultHNSWM
			}
			if m.HNSW.EfConstruction == 0 {
				m.HNSW.EfConstruction = DefaultHNSWEfConstruction
			}
		}
	}
	return m, nil
}

func (m *Model) residuals(data []float32, assign []int32) []float32 {
	out := make([]float32, len(data))
	for i, c := range assign {
		cent := m.Centroids[int(c)*m.Dim : (int(c)+1)*m.Dim]
		row := data[i*m.Dim : (i+1)*m.Dim]
		for j := range row {
			out[i*m.Dim+j] = row[j] - cent[j]
		}
	}
	return out
}

// RowBytes is the size of one row's build payload as Encode produces it and
// Write consumes it (for IVF_HNSW_SQ the float vector, from which Write
// builds the graph before storing codes).
func (m *Model) RowBytes() int {
	switch m.Kind {
	case KindPQ:
		if m.Codebook.Bits == 4 {
			return m.Codebook.PackedRowBytes()
		}
		return m.Codebook.M
	case KindSQ:
		return m.Dim
	}
	return 4 * m.Dim
}

// storedRowBytes is the size of one row's codes in a partition block.
func (m *Model) storedRowBytes() int {
	if m.Kind == KindHNSWSQ {
		return m.Dim
	}
	return m.RowBytes()
}

// Encode assigns each row of vecs (len(parts) rows) to its partition and
// writes its payload (RowBytes bytes per row) to payload.
func (m *Model) Encode(vecs []float32, parts []int32, payload []byte) {
	n := len(parts)
	if len(vecs) != n*m.Dim || len(payload) != n*m.RowBytes() {
		panic(fmt.Sprintf("ivf: encode %d values into %d rows with %d payload bytes", len(vecs), n, len(payload)))
	}
	data := vecs
	if m.Metric == vector.Cosine && m.Kind != KindFlat {
		data = normalizedRows(vecs, m.Dim)
	}
	rb := m.RowBytes()
	// Large batches are split over the CPUs: assignment and PQ encoding are
	// the compute of a build's second pass.
	workers := min(runtime.GOMAXPROCS(0), max(n/2048, 1))
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.encodeRange(data[lo*m.Dim:hi*m.Dim], parts[lo:hi], payload[lo*rb:hi*rb])
		}()
	}
	wg.Wait()
}

func (m *Model) encodeRange(data []float32, parts []int32, payload []byte) {
	n := len(parts)
	copy(parts, m.Assign(data, 1))
	switch m.Kind {
	case KindFlat, KindHNSWSQ:
		putFloats(payload, data)
	case KindPQ:
		src := data
		if m.Residual {
			src = m.residuals(data, parts)
		}
		var codes []byte
		if m.Codebook.Bits == 4 {
			codes = m.Codebook.EncodePacked(payload[:0], src)
		} else {
			codes = m.Codebook.Encode(payload[:0], src)
		}
		if len(codes) != n*m.RowBytes() {
			panic("ivf: codebook produced a wrong number of codes")
		}
	case KindSQ:
		m.SQ.Encode(payload[:0], data)
	}
}

func normalizedRows(data []float32, dim int) []float32 {
	out := make([]float32, len(data))
	for i := 0; i+dim <= len(data); i += dim {
		row := data[i : i+dim]
		n := vector.Norm(row)
		if n == 0 {
			continue
		}
		for j, v := range row {
			out[i+j] = v / n
		}
	}
	return out
}
