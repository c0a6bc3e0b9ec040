package vindex

import (
	"encoding/binary"
	"fmt"
	"os"
)

// partitionBuffer collects the encoded rows of a build per partition. Rows
// stay in memory until they exceed the byte budget; then every partition's
// rows are written, in partition order, as one run to a spill file and the
// memory is released. Reading partition p back concatenates its extent of
// each run (in run order) and the rows still in memory, so the row order is
// the order rows were added whether or not anything spilled.
type partitionBuffer struct {
	rowBytes int
	budget   int64
	dir      string

	addrs   [][]uint64
	payload [][]byte
	mem     int64 // bytes held by addrs and payload (capacity)
	rows    int64

	file *os.File // spill runs, appended back to back
	off  int64
	runs [][]extent // per run, per partition
	// peak is the largest mem observed, for reporting.
	peak int64
}

type extent struct {
	off  int64
	rows int
}

func newPartitionBuffer(parts, rowBytes int, budget int64, dir string) *partitionBuffer {
	return &partitionBuffer{
		rowBytes: rowBytes,
		budget:   budget,
		dir:      dir,
		addrs:    make([][]uint64, parts),
		payload:  make([][]byte, parts),
	}
}

// add appends rows: addrs[i] goes to partition parts[i] with payload row i.
func (b *partitionBuffer) add(parts []int32, addrs []uint64, payload []byte) error {
	rb := b.rowBytes
	for i, p := range parts {
		if p < 0 || int(p) >= len(b.addrs) {
			return fmt.Errorf("encoder assigned row %d to partition %d of %d", i, p, len(b.addrs))
		}
		a, pl := b.addrs[p], b.payload[p]
		oldCap := int64(cap(a))*8 + int64(cap(pl))
		a = append(a, addrs[i])
		pl = append(pl, payload[i*rb:(i+1)*rb]...)
		b.mem += int64(cap(a))*8 + int64(cap(pl)) - oldCap
		b.addrs[p], b.payload[p] = a, pl
	}
	b.rows += int64(len(parts))
	b.peak = max(b.peak, b.mem)
	if b.mem > b.budget {
		return b.spill()
	}
	return nil
}

// spill writes the in-memory rows as one run and frees them.
func (b *partitionBuffer) spill() error {
	if b.file == nil {
		f, err := os.CreateTemp(b.dir, "sarissa-index-build-*.spill")
		if err != nil {
			return fmt.Errorf("create spill file in %q: %w", b.dir, err)
		}
		b.file = f
	}
	run := make([]extent, len(b.addrs))
	var buf []byte
	for p := range b.addrs {
		n := len(b.addrs[p])
		run[p] = extent{off: b.off, rows: n}
		if n == 0 {
			continue
		}
		buf = buf[:0]
		for _, a := range b.addrs[p] {
			buf = binary.LittleEndian.AppendUint64(buf, a)
		}
		buf = append(buf, b.payload[p]...)
		if _, err := b.file.WriteAt(buf, b.off); err != nil {
			return fmt.Errorf("write spill file %s: %w", b.file.Name(), err)
		}
		b.off += int64(len(buf))
		b.addrs[p], b.payload[p] = nil, nil
	}
	b.runs = append(b.runs, run)
	b.mem = 0
	return nil
}

// spilled reports whether any run went to disk.
func (b *partitionBuffer) spilled() bool { return len(b.runs) > 0 }

// partition returns all rows of partition p and releases the memory they held.
func (b *partitionBuffer) partition(p int) ([]uint64, []byte, error) {
	if len(b.runs) == 0 {
		a, pl := b.addrs[p], b.payload[p]
		b.addrs[p], b.payload[p] = nil, nil
		return a, pl, nil
	}
	total := len(b.addrs[p])
	for _, run := range b.runs {
		total += run[p].rows
	}
	addrs := make([]uint64, 0, total)
	payload := make([]byte, 0, total*b.rowBytes)
	var buf []byte
	for _, run := range b.runs {
		e := run[p]
		if e.rows == 0 {
			continue
		}
		n := e.rows * (8 + b.rowBytes)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := b.file.ReadAt(buf, e.off); err != nil {
			return nil, nil, fmt.Errorf("read spill file %s at %d: %w", b.file.Name(), e.off, err)
		}
		for i := 0; i < e.rows; i++ {
			addrs = append(addrs, binary.LittleEndian.Uint64(buf[i*8:]))
		}
		payload = append(payload, buf[e.rows*8:]...)
	}
	addrs = append(addrs, b.addrs[p]...)
	payload = append(payload, b.payload[p]...)
	b.addrs[p], b.payload[p] = nil, nil
	return addrs, payload, nil
}

// close removes the spill file.
func (b *partitionBuffer) close() {
	if b.file != nil {
		name := b.file.Name()
		_ = b.file.Close()
		_ = os.Remove(name)
		b.file = nil
	}
}
