package hnsw

import "slices"

// builder is one build worker's scratch.
type builder struct {
	g    *Graph
	dist func(i, j int) float32
	ef   int
	st   searchState
	vis  *visited
	sel  []Neighbor
	buf  []uint32
}

func (b *builder) insert(i int32) {
	g := b.g
	if b.vis == nil {
		b.vis = &visited{stamp: make([]uint16, g.n)}
	}
	qdist := func(j int32) float32 { return b.dist(int(i), int(j)) }
	level := int(g.levels[i])
	g.mu.RLock()
	entry, top := g.entry, g.maxLevel
	g.mu.RUnlock()
	ep := Neighbor{ID: entry, Dist: qdist(entry)}
	for l := top; l > level; l-- {
		ep, b.buf = g.greedy(ep, l, qdist, true, b.buf)
	}
	b.st.res = append(b.st.res[:0], ep)
	for l := min(level, top); l >= 0; l-- {
		b.vis.gen++
		if b.vis.gen == 0 {
			clear(b.vis.stamp)
			b.vis.gen = 1
		}
		for _, e := range b.st.res {
			b.vis.stamp[e.ID] = b.vis.gen
		}
		b.vis.stamp[i] = b.vis.gen
		g.searchLayer(&b.st, b.vis, b.ef, l, qdist, nil, true)
		cands := sortedAsc(b.st.res)
		b.sel = b.selectNeighbors(b.sel[:0], cands, g.m)
		g.locks[i].Lock()
		slots, cnt := g.list(i, l)
		for k, nb := range b.sel {
			slots[k] = uint32(nb.ID)
		}
		*cnt = uint16(len(b.sel))
		g.locks[i].Unlock()
		for _, nb := range b.sel {
			b.link(nb.ID, i, nb.Dist, l)
		}
		// The candidates seed the next layer down.
		b.st.res = append(b.st.res[:0], cands...)
		b.st.res.init()
	}
	if level > top {
		g.mu.Lock()
		if level > g.maxLevel {
			g.entry, g.maxLevel = i, level
		}
		g.mu.Unlock()
	}
}

// link adds i to e's list on layer l, pruning e's list with the heuristic
// when it is full.
func (b *builder) link(e, i int32, d float32, l int) {
	g := b.g
	capacity := g.m
	if l == 0 {
		capacity = g.m0
	}
	g.locks[e].Lock()
	defer g.locks[e].Unlock()
	slots, cnt := g.list(e, l)
	n := int(*cnt)
	if slices.Contains(slots[:n], uint32(i)) {
		return
	}
	if n < capacity {
		slots[n] = uint32(i)
		*cnt = uint16(n + 1)
		return
	}
	cands := make([]Neighbor, 0, n+1)
	cands = append(cands, Neighbor{ID: i, Dist: d})
	for _, x := range slots[:n] {
		cands = append(cands, Neighbor{ID: int32(x), Dist: b.dist(int(e), int(x))})
	}
	slices.SortFunc(cands, func(a, c Neighbor) int { return cmpDist(a, c) })
	kept := b.selectNeighbors(nil, cands, capacity)
	for k, x := range kept {
		slots[k] = uint32(x.ID)
	}
	*cnt = uint16(len(kept))
}

// selectNeighbors is the paper's heuristic: walking candidates nearest
// first, keep one only if it is nearer to the base than to every neighbour
// kept so far, which spreads links in all directions instead of into the
// nearest cluster.
func (b *builder) selectNeighbors(dst, sorted []Neighbor, max int) []Neighbor {
	if len(sorted) <= max {
		return append(dst, sorted...)
	}
	start := len(dst)
	for _, c := range sorted {
		if len(dst)-start >= max {
			break
		}
		good := true
		for _, r := range dst[start:] {
			if b.dist(int(c.ID), int(r.ID)) < c.Dist {
				good = false
				break
			}
		}
		if good {
			dst = append(dst, c)
		}
	}
	return dst
}

func sortedAsc(h maxHeap) []Neighbor {
	out := append([]Neighbor(nil), h...)
	slices.SortFunc(out, cmpDist)
	return out
}

func cmpDist(a, b Neighbor) int {
	switch {
	case a.Dist < b.Dist:
		return -1
	case a.Dist > b.Dist:
		return 1
	}
	return int(a.ID) - int(b.ID)
}
