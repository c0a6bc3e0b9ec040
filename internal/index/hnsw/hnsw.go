// Package hnsw implements Hierarchical Navigable Small World graphs
// (Malkov & Yashunin): a proximity graph in layers, where each node keeps M
// neighbours per upper layer and 2·M on layer 0, chosen with the
// diversity heuristic, and a search descends greedily from the top layer and
// runs a best-first search with an ef-long candidate list on layer 0.
//
// The graph only knows node ids 0..n-1; distances come from the caller
// (dist(i, j) while building, qdist(i) while searching), so the same graph
// serves any vector encoding. Builds insert nodes on several goroutines with
// a lock per node; searches of a finished graph take no locks.
package hnsw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Defaults of LanceDB's builder (ef_construction 300; Lance's own is 150).
const (
	DefaultM              = 20
	DefaultEfConstruction = 300
	DefaultMaxLevel       = 7
	maxLevelLimit         = 16
)

// ErrInvalid reports unusable parameters; ErrCorrupt a damaged encoding.
var (
	ErrInvalid = errors.New("hnsw: invalid argument")
	ErrCorrupt = errors.New("hnsw: corrupt graph")
)

// Params configures Build. Zero values take the defaults.
type Params struct {
	M              int
	EfConstruction int
	MaxLevel       int
	Workers        int
	Seed           uint64
}

// Neighbor is a search result.
type Neighbor struct {
	ID   int32
	Dist float32
}

// Graph is a built HNSW graph over n nodes.
type Graph struct {
	n, m, m0 int
	maxLevel int
	entry    int32
	levels   []uint8
	// Layer 0: node i's neighbours are nb0[i*m0 : i*m0+cnt0[i]].
	nb0  []uint32
	cnt0 []uint16
	// Upper layers: node i with level L>0 owns L lists of m slots starting
	// at upOff[i] (layer l at upOff[i]+(l-1)*m), counts at upOff[i]/m+(l-1).
	upOff []int32
	up    []uint32
	upCnt []uint16

	locks []sync.Mutex // during Build only
	mu    sync.RWMutex // entry/maxLevel during Build
	pool  sync.Pool    // *visited
}

func (p Params) withDefaults() Params {
	if p.M <= 0 {
		p.M = DefaultM
	}
	if p.EfConstruction <= 0 {
		p.EfConstruction = DefaultEfConstruction
	}
	if p.MaxLevel <= 0 {
		p.MaxLevel = DefaultMaxLevel
	}
	if p.Workers <= 0 {
		p.Workers = 2
	}
	return p
}

// Build inserts nodes 0..n-1 into a new graph.
func Build(ctx context.Context, n int, dist func(i, j int) float32, p Params) (*Graph, error) {
	p = p.withDefaults()
	if n <= 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d nodes", ErrInvalid, n)
	}
	if p.M < 2 || p.M > 512 || p.MaxLevel > maxLevelLimit {
		return nil, fmt.Errorf("%w: m %d, max level %d", ErrInvalid, p.M, p.MaxLevel)
	}
	g := newGraph(n, p.M, levelsFor(n, p))
	g.locks = make([]sync.Mutex, n)
	g.entry, g.maxLevel = 0, int(g.levels[0])
	var next atomic.Int64
	next.Store(1)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := 0; w < p.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &builder{g: g, dist: dist, ef: max(p.EfConstruction, p.M)}
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if i%1024 == 0 && ctx.Err() != nil {
					failed.Store(true)
					return
				}
				b.insert(int32(i))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.locks = nil
	return g, nil
}

// levelsFor draws every node's level up front from the seed, so a build is
// reproducible in structure whatever the scheduling of workers.
func levelsFor(n int, p Params) []uint8 {
	r := rand.New(rand.NewPCG(p.Seed, 0x4e5357))
	ml := 1 / math.Log(float64(p.M))
	levels := make([]uint8, n)
	for i := range levels {
		l := int(-math.Log(1-r.Float64()) * ml)
		levels[i] = uint8(min(l, p.MaxLevel))
	}
	return levels
}

func newGraph(n, m int, levels []uint8) *Graph {
	g := &Graph{n: n, m: m, m0: 2 * m, levels: levels,
		nb0: make([]uint32, n*2*m), cnt0: make([]uint16, n), upOff: make([]int32, n)}
	var slots int
	for i, l := range levels {
		g.upOff[i] = -1
		if l > 0 {
			g.upOff[i] = int32(slots)
			slots += int(l) * m
		}
	}
	g.up = make([]uint32, slots)
	g.upCnt = make([]uint16, slots/m)
	return g
}

// list returns node i's neighbour slots on layer l and its count cell.
func (g *Graph) list(i int32, l int) ([]uint32, *uint16) {
	if l == 0 {
		return g.nb0[int(i)*g.m0 : int(i+1)*g.m0], &g.cnt0[i]
	}
	off := int(g.upOff[i]) + (l-1)*g.m
	return g.up[off : off+g.m], &g.upCnt[off/g.m]
}

func (g *Graph) neighbors(i int32, l int) []uint32 {
	s, c := g.list(i, l)
	return s[:*c]
}

// SizeBytes is the memory the graph holds.
func (g *Graph) SizeBytes() int64 {
	return int64(len(g.nb0))*4 + int64(len(g.cnt0))*2 + int64(len(g.up))*4 + int64(len(g.upCnt))*2 +
		int64(len(g.levels)) + int64(len(g.upOff))*4 + 128
}

// Len is the number of nodes.
func (g *Graph) Len() int { return g.n }

// visited marks nodes seen by one search with a generation stamp, so that
// clearing costs nothing.
type visited struct {
	stamp []uint16
	gen   uint16
}

func (g *Graph) getVisited() *visited {
	v, _ := g.pool.Get().(*visited)
	if v == nil || len(v.stamp) != g.n {
		v = &visited{stamp: make([]uint16, g.n)}
	}
	v.gen++
	if v.gen == 0 {
		clear(v.stamp)
		v.gen = 1
	}
	return v
}

// minHeap / maxHeap of Neighbors by distance, typed so that pushes do not
// box values into interfaces (container/heap would allocate per push).
type minHeap []Neighbor

func (h minHeap) Len() int { return len(h) }

func (h *minHeap) push(x Neighbor) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !(s[i].Dist < s[p].Dist) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *minHeap) pop() Neighbor {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].Dist < s[m].Dist {
			m = l
		}
		if r < n && s[r].Dist < s[m].Dist {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

type maxHeap []Neighbor

func (h maxHeap) Len() int { return len(h) }

func (h *maxHeap) push(x Neighbor) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !(s[i].Dist > s[p].Dist) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *maxHeap) pop() Neighbor {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].Dist > s[m].Dist {
			m = l
		}
		if r < n && s[r].Dist > s[m].Dist {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// init restores the heap order of arbitrary contents.
func (h maxHeap) init() {
	n := len(h)
	for i := n/2 - 1; i >= 0; i-- {
		for j := i; ; {
			l, r, m := 2*j+1, 2*j+2, j
			if l < n && h[l].Dist > h[m].Dist {
				m = l
			}
			if r < n && h[r].Dist > h[m].Dist {
				m = r
			}
			if m == j {
				break
			}
			h[j], h[m] = h[m], h[j]
			j = m
		}
	}
}

// searchState is the scratch of one layer search.
type searchState struct {
	cand minHeap
	res  maxHeap
	buf  []uint32
}

// searchLayer is the best-first search of one layer from the entry points in
// st.res, keeping the ef nearest results in st.res. Nodes rejected by allow
// are expanded but not kept. lock guards neighbour lists during builds.
func (g *Graph) searchLayer(st *searchState, vis *visited, ef, l int, qdist func(int32) float32, allow func(int) bool, lock bool) {
	st.cand = st.cand[:0]
	for _, e := range st.res {
		st.cand.push(e)
	}
	if allow != nil {
		kept := st.res[:0]
		for _, e := range st.res {
			if allow(int(e.ID)) {
				kept = append(kept, e)
			}
		}
		st.res = kept
		st.res.init()
	}
	for st.cand.Len() > 0 {
		c := st.cand.pop()
		if st.res.Len() >= ef && c.Dist > st.res[0].Dist {
			break
		}
		if lock {
			g.locks[c.ID].Lock()
			st.buf = append(st.buf[:0], g.neighbors(c.ID, l)...)
			g.locks[c.ID].Unlock()
		} else {
			st.buf = g.neighbors(c.ID, l)
		}
		for _, nb := range st.buf {
			if vis.stamp[nb] == vis.gen {
				continue
			}
			vis.stamp[nb] = vis.gen
			d := qdist(int32(nb))
			if st.res.Len() < ef || d < st.res[0].Dist {
				st.cand.push(Neighbor{ID: int32(nb), Dist: d})
				if allow == nil || allow(int(nb)) {
					st.res.push(Neighbor{ID: int32(nb), Dist: d})
					if st.res.Len() > ef {
						st.res.pop()
					}
				}
			}
		}
	}
}

// greedy walks layer l from ep to a local minimum of qdist.
func (g *Graph) greedy(ep Neighbor, l int, qdist func(int32) float32, lock bool, buf []uint32) (Neighbor, []uint32) {
	for changed := true; changed; {
		changed = false
		if lock {
			g.locks[ep.ID].Lock()
			buf = append(buf[:0], g.neighbors(ep.ID, l)...)
			g.locks[ep.ID].Unlock()
		} else {
			buf = g.neighbors(ep.ID, l)
		}
		for _, nb := range buf {
			if d := qdist(int32(nb)); d < ep.Dist {
				ep, changed = Neighbor{ID: int32(nb), Dist: d}, true
			}
		}
	}
	return ep, buf
}
