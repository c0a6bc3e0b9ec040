package file

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
)

// planField schedules the rows rs (total of them) of a field and returns the
// assembler that builds its array once the scheduler has run.
func (s *sched) planField(n *fieldNode, rs []rng, total uint64) (assembler, error) {
	switch n.kind {
	case kindStruct:
		a := &structAsm{s: s, dt: n.dt, n: total}
		for _, c := range n.children {
			ca, err := s.planField(c, rs, total)
			if err != nil {
				a.release()
				return nil, err
			}
			a.children = append(a.children, ca)
		}
		return a, nil
	case kindList, kindStrList:
		return s.planList(n, rs, total)
	}
	return s.planLeaf(n, rs, total)
}

// pageRuns splits rows rs of a column into per-page runs of page-relative
// ranges, in output order.
type pageRun struct {
	pg  *page
	rs  []rng
	pos uint64 // output slot of the run's first row
}

func pageRuns(c *column, rs []rng) ([]pageRun, error) {
	var runs []pageRun
	var pos uint64
	for _, r := range rs {
		if r.end > c.rows {
			return nil, corruptf(fmt.Sprintf("column %d", c.index), "rows [%d,%d) past the %d in the column", r.start, r.end, c.rows)
		}
		for start := r.start; start < r.end; {
			// first page whose end is past start
			i := sort.Search(len(c.pages), func(i int) bool { return c.pages[i].start+c.pages[i].rows > start })
			pg := c.pages[i]
			end := min(r.end, pg.start+pg.rows)
			pr := rng{start - pg.start, end - pg.start}
			if k := len(runs); k > 0 && runs[k-1].pg == pg {
				runs[k-1].rs = append(runs[k-1].rs, pr)
			} else {
				runs = append(runs, pageRun{pg: pg, rs: []rng{pr}, pos: pos})
			}
			pos += end - start
			start = end
		}
	}
	return runs, nil
}

func (s *sched) planLeaf(n *fieldNode, rs []rng, total uint64) (assembler, error) {
	where := fmt.Sprintf("field %q", n.field.Name)
	runs, err := pageRuns(n.col, rs)
	if err != nil {
		return nil, err
	}
	switch n.dt.ID() {
	case arrow.NULL:
		return nullAsm{n: total}, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		v := newVarSink(s, n.dt, total, false, where)
		for _, run := range runs {
			if err := s.planVarPage(run.pg, run.rs, v, run.pos); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	k, err := newFixedSink(s, n.dt, total, false, where)
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		if err := s.planFixed(run.pg, run.pg.enc, run.pg.rows, run.rs, k, run.pos); err != nil {
			k.release()
			return nil, err
		}
	}
	return k, nil
}

func (s *sched) planVarPage(pg *page, rs []rng, v *varSink, pos uint64) error {
	switch e := pg.enc.GetArrayEncoding().(type) {
	case *encpb.ArrayEncoding_Binary:
		return s.planBinary(pg, e.Binary, pg.rows, rs, v, pos)
	case *encpb.ArrayEncoding_Dictionary:
		return s.planDict(pg, e.Dictionary, pg.rows, rs, v, pos)
	case *encpb.ArrayEncoding_Nullable:
		if _, ok := e.Nullable.GetNullability().(*encpb.Nullable_AllNulls); ok {
			v.addSeg(&varSeg{pos: pos, count: rangesLen(rs), allNull: true})
			return nil
		}
	}
	return unsupportedf(pg.where, "%s encoding for type %s is not supported", encName(pg.enc), v.dt)
}

// nullAsm builds an arrow Null array; Lance stores nothing for it.
type nullAsm struct{ n uint64 }

func (a nullAsm) finish() (arrow.Array, error) { return array.NewNull(int(a.n)), nil }
func (nullAsm) release()                       {}

// structAsm builds a struct from its members. Lance 2.0 cannot store
// struct-level nulls, so the struct itself is never null.
type structAsm struct {
	s        *sched
	dt       arrow.DataType
	n        uint64
	children []assembler
}

func (a *structAsm) finish() (arrow.Array, error) {
	kids := make([]arrow.ArrayData, 0, len(a.children))
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	for i, c := range a.children {
		arr, err := c.finish()
		if err != nil {
			for _, rest := range a.children[i+1:] {
				rest.release()
			}
			return nil, err
		}
		kids = append(kids, arr.Data())
		arr.Data().Retain()
		arr.Release()
	}
	d := array.NewData(a.dt, int(a.n), []*memory.Buffer{nil}, kids, 0, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

func (a *structAsm) release() {
	for _, c := range a.children {
		c.release()
	}
}

// listAsm builds a list (or, for kindStrList, a string from list<uint8>).
type listAsm struct {
	s     *sched
	n     *fieldNode
	total uint64
	lens  []uint64 // per output row
	nulls []bool   // nil if none
	child assembler
}

// planList reads the offsets of the wanted rows first; when they arrive it
// knows which items those rows hold and schedules only those items.
func (s *sched) planList(n *fieldNode, rs []rng, total uint64) (assembler, error) {
	runs, err := pageRuns(n.col, rs)
	if err != nil {
		return nil, err
	}
	a := &listAsm{s: s, n: n, total: total}
	type offRun struct {
		run pageRun
		idx *fixedSink
		l   *encpb.List
		pi  int
	}
	var ors []offRun
	for _, run := range runs {
		l := run.pg.enc.GetList()
		irs := make([]rng, len(run.rs))
		for i, r := range run.rs {
			irs[i] = r
			if r.start > 0 {
				irs[i].start--
			}
		}
		idx, err := newFixedSink(s, arrow.PrimitiveTypes.Uint64, rangesLen(irs), true, run.pg.where)
		if err != nil {
			return nil, err
		}
		if err := s.planFixed(run.pg, l.GetOffsets(), run.pg.rows, irs, idx, 0); err != nil {
			return nil, err
		}
		ors = append(ors, offRun{run, idx, l, run.pg.index})
	}
	s.then(func() error {
		a.lens = make([]uint64, 0, total)
		var items []rng
		for _, o := range ors {
			if o.idx.hasNulls() {
				return corruptf(o.run.pg.where, "list offsets contain nulls")
			}
			adj, numItems, base := o.l.GetNullOffsetAdjustment(), o.l.GetNumItems(), n.itemBase[o.pi]
			norm := func(x uint64) (uint64, bool, error) {
				valid := true
				if x >= adj {
					x, valid = x-adj, false
				}
				if x > numItems {
					return 0, false, corruptf(o.run.pg.where, "list offset %d past the page's %d items", x, numItems)
				}
				return x, valid, nil
			}
			var q uint64
			for _, r := range o.run.rs {
				var start uint64
				if r.start > 0 {
					v, _, err := norm(o.idx.uint64At(q))
					if err != nil {
						return err
					}
					start = v
					q++
				}
				prev := start
				for range r.end - r.start {
					e, valid, err := norm(o.idx.uint64At(q))
					if err != nil {
						return err
					}
					q++
					if e < prev {
						return corruptf(o.run.pg.where, "list offsets decrease (%d after %d)", e, prev)
					}
					if !valid {
						if a.nulls == nil {
							a.nulls = make([]bool, total)
						}
						a.nulls[len(a.lens)] = true
					}
					a.lens = append(a.lens, e-prev)
					prev = e
				}
				if prev > start {
					ir := rng{base + start, base + prev}
					if k := len(items); k > 0 && items[k-1].end == ir.start {
						items[k-1].end = ir.end
					} else {
						items = append(items, ir)
					}
				}
			}
		}
		child, err := s.planField(n.children[0], items, rangesLen(items))
		if err != nil {
			return err
		}
		a.child = child
		return nil
	})
	return a, nil
}

func (a *listAsm) release() {
	if a.child != nil {
		a.child.release()
		a.child = nil
	}
}

func (a *listAsm) finish() (arrow.Array, error) {
	if a.child == nil {
		return nil, fmt.Errorf("list %q was not decoded", a.n.field.Name)
	}
	child, err := a.child.finish()
	a.child = nil
	if err != nil {
		return nil, err
	}
	defer child.Release()
	if uint64(len(a.lens)) != a.total {
		return nil, corruptf(fmt.Sprintf("field %q", a.n.field.Name), "offsets gave %d rows, want %d", len(a.lens), a.total)
	}
	mem := a.s.r.opts.Allocator
	large := a.n.dt.ID() == arrow.LARGE_LIST || a.n.dt.ID() == arrow.LARGE_STRING || a.n.dt.ID() == arrow.LARGE_BINARY
	ow := 4
	if large {
		ow = 8
	}
	if a.total > math.MaxInt64/8 {
		return nil, corruptf(a.n.field.Name, "too many rows")
	}
	offs := memory.NewResizableBuffer(mem)
	offs.Resize(int(a.total+1) * ow)
	defer offs.Release()
	ob := offs.Bytes()
	var sum uint64
	for i := uint64(0); i <= a.total; i++ {
		if ow == 4 {
			if sum > math.MaxInt32 {
				return nil, unsupportedf(fmt.Sprintf("field %q", a.n.field.Name), "%d items do not fit 32-bit list offsets", sum)
			}
			binary.LittleEndian.PutUint32(ob[i*4:], uint32(sum))
		} else {
			binary.LittleEndian.PutUint64(ob[i*8:], sum)
		}
		if i < a.total {
			sum += a.lens[i]
		}
	}
	var valid *memory.Buffer
	nulls := 0
	if a.nulls != nil {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(a.total))))
		defer valid.Release()
		vb := valid.Bytes()
		clear(vb)
		for i, isNull := range a.nulls {
			if isNull {
				nulls++
			} else {
				bitutil.SetBit(vb, i)
			}
		}
	}
	var d *array.Data
	if a.n.kind == kindStrList {
		cd := child.Data()
		if cd.NullN() > 0 {
			return nil, corruptf(fmt.Sprintf("field %q", a.n.field.Name), "string bytes contain nulls")
		}
		bufs := cd.Buffers()
		vals := memory.NewBufferBytes(nil)
		if len(bufs) > 1 && bufs[1] != nil {
			vals = bufs[1]
		}
		d = array.NewData(a.n.dt, int(a.total), []*memory.Buffer{valid, offs, vals}, nil, nulls, 0)
	} else {
		d = array.NewData(a.n.dt, int(a.total), []*memory.Buffer{valid, offs}, []arrow.ArrayData{child.Data()}, nulls, 0)
	}
	defer d.Release()
	return array.MakeFromData(d), nil
}
