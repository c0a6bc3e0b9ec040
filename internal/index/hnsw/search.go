package hnsw

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Search returns up to k nodes nearest to the query (qdist gives the
// distance of node i), nearest first, exploring with a candidate list of ef
// (at least k). Nodes for which allow returns false are traversed but never
// returned. When the graph walk ends with fewer than k allowed nodes — a
// very selective allow-list — every node is checked by brute force, so a
// filtered search never misses rows that exist.
func (g *Graph) Search(ef, k int, qdist func(i int) float32, allow func(i int) bool) []Neighbor {
	if k <= 0 || g.n == 0 {
		return nil
	}
	ef = max(ef, k)
	qd := func(i int32) float32 { return qdist(int(i)) }
	vis := g.getVisited()
	defer g.pool.Put(vis)
	ep := Neighbor{ID: g.entry, Dist: qd(g.entry)}
	var buf []uint32
	for l := g.maxLevel; l > 0; l-- {
		ep, buf = g.greedy(ep, l, qd, false, buf)
	}
	st := &searchState{res: maxHeap{ep}}
	vis.stamp[ep.ID] = vis.gen
	g.searchLayer(st, vis, ef, 0, qd, allow, false)
	if allow != nil && st.res.Len() < k {
		return g.bruteForce(k, qdist, allow)
	}
	out := sortedAsc(st.res)
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func (g *Graph) bruteForce(k int, qdist func(int) float32, allow func(int) bool) []Neighbor {
	h := make(maxHeap, 0, k+1)
	for i := 0; i < g.n; i++ {
		if !allow(i) {
			continue
		}
		d := qdist(i)
		if h.Len() < k || d < h[0].Dist {
			h.push(Neighbor{ID: int32(i), Dist: d})
			if h.Len() > k {
				h.pop()
			}
		}
	}
	return sortedAsc(h)
}

// Encoding (little endian): magic "HNSW", version u32, n, m, max level,
// entry (u32 each), n level bytes, then per node its layer-0 list (u16
// count, u32 ids), then per node with level L>0 its lists of layers 1..L.
const (
	graphMagic   = "HNSW"
	graphVersion = 1
	graphHeader  = 4 + 4*5
)

// AppendBinary appends the graph's encoding to dst.
func (g *Graph) AppendBinary(dst []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, graphMagic...)
	dst = le.AppendUint32(dst, graphVersion)
	dst = le.AppendUint32(dst, uint32(g.n))
	dst = le.AppendUint32(dst, uint32(g.m))
	dst = le.AppendUint32(dst, uint32(g.maxLevel))
	dst = le.AppendUint32(dst, uint32(g.entry))
	dst = append(dst, g.levels...)
	appendList := func(ids []uint32) {
		dst = le.AppendUint16(dst, uint16(len(ids)))
		for _, x := range ids {
			dst = le.AppendUint32(dst, x)
		}
	}
	for i := 0; i < g.n; i++ {
		appendList(g.neighbors(int32(i), 0))
	}
	for i := 0; i < g.n; i++ {
		for l := 1; l <= int(g.levels[i]); l++ {
			appendList(g.neighbors(int32(i), l))
		}
	}
	return dst
}

// Decode parses a graph of n nodes, checking every count, id and level.
// It never panics on any input.
func Decode(buf []byte, n int) (*Graph, error) {
	le := binary.LittleEndian
	if len(buf) < graphHeader || string(buf[:4]) != graphMagic {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	if v := le.Uint32(buf[4:]); v != graphVersion {
		return nil, fmt.Errorf("%w: version %d", ErrCorrupt, v)
	}
	gn, m, top, entry := le.Uint32(buf[8:]), le.Uint32(buf[12:]), le.Uint32(buf[16:]), le.Uint32(buf[20:])
	if int64(gn) != int64(n) || n <= 0 {
		return nil, fmt.Errorf("%w: graph of %d nodes for %d rows", ErrCorrupt, gn, n)
	}
	if m < 2 || m > 512 || top > maxLevelLimit || entry >= gn {
		return nil, fmt.Errorf("%w: m %d, max level %d, entry %d", ErrCorrupt, m, top, entry)
	}
	pos := graphHeader
	if len(buf)-pos < n {
		return nil, fmt.Errorf("%w: truncated levels", ErrCorrupt)
	}
	levels := slices.Clone(buf[pos : pos+n])
	pos += n
	for i, l := range levels {
		if uint32(l) > top {
			return nil, fmt.Errorf("%w: node %d at level %d above the top %d", ErrCorrupt, i, l, top)
		}
	}
	if uint32(levels[entry]) != top {
		return nil, fmt.Errorf("%w: entry node %d is not on the top level", ErrCorrupt, entry)
	}
	g := newGraph(n, int(m), levels)
	g.maxLevel, g.entry = int(top), int32(entry)
	readList := func(i int32, l int) error {
		if len(buf)-pos < 2 {
			return fmt.Errorf("%w: truncated list of node %d", ErrCorrupt, i)
		}
		c := int(le.Uint16(buf[pos:]))
		pos += 2
		slots, cnt := g.list(i, l)
		if c > len(slots) || len(buf)-pos < 4*c {
			return fmt.Errorf("%w: node %d layer %d lists %d neighbours", ErrCorrupt, i, l, c)
		}
		for k := 0; k < c; k++ {
			x := le.Uint32(buf[pos:])
			pos += 4
			if x >= gn || (l > 0 && uint32(levels[x]) < uint32(l)) {
				return fmt.Errorf("%w: node %d layer %d links to %d", ErrCorrupt, i, l, x)
			}
			slots[k] = x
		}
		*cnt = uint16(c)
		return nil
	}
	for i := 0; i < n; i++ {
		if err := readList(int32(i), 0); err != nil {
			return nil, err
		}
	}
	for i := 0; i < n; i++ {
		for l := 1; l <= int(levels[i]); l++ {
			if err := readList(int32(i), l); err != nil {
				return nil, err
			}
		}
	}
	if pos != len(buf) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(buf)-pos)
	}
	return g, nil
}
