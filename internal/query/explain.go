package query

import (
	"fmt"
	"math"
	"strings"

	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// explain renders the plan as an indented operator tree, outermost first,
// in the spirit of LanceDB's DataFusion plans.
func (p *plan) explain(verbose bool, ix *vindex.Info, skipped string) string {
	var lines []string
	depth := 0
	add := func(format string, args ...any) {
		lines = append(lines, strings.Repeat("  ", depth)+fmt.Sprintf(format, args...))
		depth++
	}
	req := p.req
	exprs := make([]string, 0, len(p.out)+1)
	if p.vec != nil && req.MultiVector {
		exprs = append(exprs, colQueryIndex)
	}
	for _, o := range p.out {
		switch o.kind {
		case outExpr:
			exprs = append(exprs, fmt.Sprintf("%s as %s", o.bound, o.name))
		case outTable:
			if o.src != o.name {
				exprs = append(exprs, fmt.Sprintf("%s as %s", o.src, o.name))
			} else {
				exprs = append(exprs, o.name)
			}
		default:
			exprs = append(exprs, o.name)
		}
	}
	add("ProjectionExec: expr=[%s]", strings.Join(exprs, ", "))
	frags := p.snap.Lance().Fragments()
	scan := func(cols []string, filter string, rowID bool) {
		s := fmt.Sprintf("LanceScan: version=%d, fragments=%d, rows=%d, projection=[%s]",
			p.snap.Version(), len(frags), p.snap.NumRows(), strings.Join(cols, ", "))
		if rowID {
			s += ", row_id=true"
		}
		if filter != "" {
			s += ", filter=" + filter
		}
		add("%s", s)
	}
	if p.vec == nil {
		fetch := "none"
		if req.K != NoLimit {
			fetch = fmt.Sprint(req.K)
		}
		if req.Offset > 0 || req.K != NoLimit {
			add("GlobalLimitExec: skip=%d, fetch=%s", req.Offset, fetch)
		}
		cols := p.readCols
		for _, c := range p.filterCols {
			cols = appendUnique(cols, c)
		}
		filter := ""
		if p.filter != nil {
			filter = p.filter.String()
		}
		scan(cols, filter, p.needRowID || p.needRowOf)
		return strings.Join(lines, "\n")
	}
	vp := p.vec
	if len(p.readCols) > 0 {
		add("TakeExec: columns=[%s]", strings.Join(p.readCols, ", "))
	}
	add("GlobalLimitExec: skip=%d, fetch=%d", req.Offset, req.K)
	if p.postfilter {
		add("FilterExec: %s", p.filter)
		add("TakeExec: columns=[%s]", strings.Join(p.filterCols, ", "))
	}
	if ix != nil {
		p.explainIndexed(verbose, ix, add, scan, &depth)
		return strings.Join(lines, "\n")
	}
	knn := fmt.Sprintf("FlatKNNExec: column=%s, metric=%s, dim=%d, k=%d, queries=%d",
		vp.column, vp.metric, vp.dim, satAdd(req.K, req.Offset), len(req.Vectors))
	if req.LowerBound != nil || req.UpperBound != nil {
		knn += fmt.Sprintf(", distance_range=[%s, %s)", boundString(req.LowerBound), boundString(req.UpperBound))
	}
	if skipped != "" {
		knn += ", " + skipped
	}
	if req.FastSearch {
		knn += ", fast_search=true (no index: no rows)"
	}
	if verbose {
		kernel := vector.Kernel()
		if vp.bytes != nil {
			kernel = "popcount"
		}
		knn += fmt.Sprintf(", element=%s, kernel=%s, order=[_distance ASC, _rowid ASC], drops=[null vectors, NaN distances]",
			typeName(vp.elem), kernel)
	}
	add("%s", knn)
	if p.filter != nil && !p.postfilter {
		add("PrefilterExec: %s", p.filter)
		scan(p.filterCols, "", true)
		depth -= 2 // the vector scan is the search's second input
	}
	scan([]string{vp.column}, "", true)
	return strings.Join(lines, "\n")
}

func boundString(b *float32) string {
	if b == nil {
		return "unbounded"
	}
	return fmt.Sprint(*b)
}

// explainIndexed renders a search through the vector index ix: the index
// search (with its refine step) and the exact search of the rows the index
// does not cover, merged.
func (p *plan) explainIndexed(verbose bool, ix *vindex.Info, add func(string, ...any), scan func([]string, string, bool), depth *int) {
	req, vp := p.req, p.vec
	kk := satAdd(req.K, req.Offset)
	add("KNNMergeExec: k=%d, metric=%s, inputs=[index search, unindexed rows]", kk, ix.Metric)
	merge := *depth
	prefilter := func() {
		if p.filter != nil && !p.postfilter {
			add("PrefilterExec: %s", p.filter)
			scan(p.filterCols, "", true)
		}
	}
	candidates := kk
	if rf := req.RefineFactor; rf != nil {
		candidates = satMul(kk, *rf)
		add("RefineExec: refine_factor=%d, candidates=%d, exact %s distances from the stored vectors", *rf, candidates, ix.Metric)
	}
	lo, hi := req.Probes()
	probes := fmt.Sprintf("minimum_nprobes=%d, maximum_nprobes=%d", lo, hi)
	if hi == NoLimit {
		probes = fmt.Sprintf("minimum_nprobes=%d, maximum_nprobes=all", lo)
	}
	ann := fmt.Sprintf("ANNIndexExec: index=%s, type=%s, column=%s, metric=%s, %s, k=%d, queries=%d, indexed_rows=%d",
		ix.Name, ix.Kind, vp.column, ix.Metric, probes, candidates, len(req.Vectors), ix.NumIndexedRows)
	if strings.Contains(ix.Kind.String(), "HNSW") {
		if req.Ef != nil {
			ann += fmt.Sprintf(", ef=%d", *req.Ef)
		} else {
			ann += fmt.Sprintf(", ef=%d (1.5 × k)", max(candidates*3/2, candidates))
		}
	}
	if req.LowerBound != nil || req.UpperBound != nil {
		ann += fmt.Sprintf(", distance_range=[%s, %s)", boundString(req.LowerBound), boundString(req.UpperBound))
	}
	if verbose {
		ann += fmt.Sprintf(", uuid=%s, segments=%d, size_bytes=%d", ix.UUID, ix.NumIndices, ix.SizeBytes)
	}
	add("%s", ann)
	prefilter()
	*depth = merge
	if req.FastSearch {
		add("FlatKNNExec: skipped (fast_search), unindexed_rows=%d", ix.NumUnindexedRows)
		return
	}
	add("FlatKNNExec: column=%s, metric=%s, dim=%d, k=%d, queries=%d, unindexed_rows=%d",
		vp.column, ix.Metric, vp.dim, kk, len(req.Vectors), ix.NumUnindexedRows)
	tail := *depth
	prefilter()
	*depth = tail
	scan([]string{vp.column}, "", true)
}

// satMul is a × b saturating at MaxInt64 (both non-negative).
func satMul(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
