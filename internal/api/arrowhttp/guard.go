package arrowhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Arrow IPC message header types (Schema.fbs MessageHeader union).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
)

// Field ids in the IPC flatbuffers (Message.fbs, Schema.fbs).
const (
	msgHeaderType = 1
	msgHeader     = 2
	msgBodyLength = 3

	rbLength      = 0
	rbNodes       = 1
	rbBuffers     = 2
	rbCompression = 3

	dictID   = 0
	dictData = 1

	dictEncodingID = 0

	compCodec = 0

	msgCustomMetadata = 4

	schemaFields         = 1
	schemaCustomMetadata = 2
	schemaFeatures       = 3

	fieldName           = 0
	fieldTypeType       = 2
	fieldType           = 3
	fieldDict           = 4
	fieldChildren       = 5
	fieldCustomMetadata = 6

	typeTimestamp     = 10 // Type union tags
	typeUnion         = 14
	timestampTimezone = 1

	structElemSize = 16 // FieldNode and Buffer are two int64s
)

const continuation = 0xFFFFFFFF

// guard sits between the request body and arrow-go's stream reader. It reads
// one IPC message at a time, checks every length the message claims against
// what is actually present and against the limits, and only then hands the
// message's bytes on. arrow-go allocates whatever a message claims (body
// lengths, decompressed buffer sizes) before it reads the data, so a
// malicious or corrupt stream could otherwise make it allocate without bound.
//
// Memory use is proportional to the bytes actually received: a message is
// accumulated as it arrives, never pre-allocated from its claimed length.
type guard struct {
	r   io.Reader
	lim Limits

	out     []byte // validated bytes not yet handed on
	err     error  // sticky
	done    bool   // end-of-stream marker passed on
	offset  int64  // bytes consumed from r
	msgs    int    // messages read
	decoded int64  // decoded bytes charged so far
	schema  bool   // schema message seen

	// dictIDs are the dictionary ids of the schema's dictionary-encoded
	// fields, in depth-first order. Once arrow-go has decoded the schema,
	// setLayouts derives how many field nodes and buffers each record batch
	// and each dictionary batch must carry: arrow-go indexes those vectors
	// without checking their length, so a short vector would make it read
	// garbage lengths and offsets from beyond it.
	dictIDs     []int64
	batchLayout *layout
	dictLayouts map[int64]layout
}

// layout is the number of field nodes and buffers a batch of some schema has.
type layout struct{ nodes, buffers int }

func (g *guard) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		switch {
		case g.err != nil:
			return 0, g.err
		case g.done:
			return 0, io.EOF
		}
		if err := g.next(); err != nil {
			g.err = err
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

func (g *guard) fail(at int64, format string, args ...any) error {
	return fmt.Errorf("%w: message %d at byte %d: %s", ErrInvalid, g.msgs, at, fmt.Sprintf(format, args...))
}

// readN reads exactly n bytes, growing the buffer as data arrives.
func (g *guard) readN(dst []byte, n int64) ([]byte, error) {
	const chunk = 1 << 20
	for remaining := n; remaining > 0; {
		k := min(remaining, chunk)
		start := len(dst)
		dst = slices.Grow(dst, int(k))[:start+int(k)]
		got, err := io.ReadFull(g.r, dst[start:])
		g.offset += int64(got)
		remaining -= int64(got)
		if err != nil {
			return nil, err
		}
	}
	return dst, nil
}

func (g *guard) next() error {
	start := g.offset
	head, err := g.readN(nil, 4)
	if err != nil {
		if errors.Is(err, io.EOF) && g.offset == start {
			if g.msgs == 0 {
				return fmt.Errorf("%w: the body is empty; want an Arrow IPC stream", ErrInvalid)
			}
			return fmt.Errorf("%w: stream ends at byte %d after %d message(s) without the end-of-stream marker (truncated body?)", ErrInvalid, g.offset, g.msgs)
		}
		return g.truncated(start, err)
	}
	metaLen := int64(int32(binary.LittleEndian.Uint32(head)))
	if binary.LittleEndian.Uint32(head) == continuation {
		if head, err = g.readN(head, 4); err != nil {
			return g.truncated(start, err)
		}
		metaLen = int64(int32(binary.LittleEndian.Uint32(head[4:])))
	}
	if metaLen == 0 {
		if !g.schema {
			return g.fail(start, "end-of-stream marker before the schema")
		}
		g.out, g.done = head, true
		return nil
	}
	if metaLen < 8 || metaLen > g.lim.MaxMetadataBytes {
		if g.msgs == 0 && len(head) == 4 {
			return fmt.Errorf("%w: the body does not start with an Arrow IPC stream message (first word %#x); want an Arrow IPC stream (Content-Type: application/vnd.apache.arrow.stream)", ErrInvalid, binary.LittleEndian.Uint32(head))
		}
		return g.fail(start, "metadata length %d outside [8, %d]", metaLen, g.lim.MaxMetadataBytes)
	}
	buf, err := g.readN(head, metaLen)
	if err != nil {
		return g.truncated(start, err)
	}
	meta := buf[len(head):]
	msg, err := fbRoot(meta)
	if err != nil {
		return g.fail(start, "metadata: %v", err)
	}
	bodyLen, err := msg.int64(msgBodyLength, 0)
	if err != nil {
		return g.fail(start, "metadata: %v", err)
	}
	if bodyLen < 0 {
		return g.fail(start, "negative body length %d", bodyLen)
	}
	if bodyLen > g.lim.MaxMessageBytes {
		return fmt.Errorf("%w: %w", ErrTooLarge, g.fail(start, "body length %d is more than the limit of %d bytes", bodyLen, g.lim.MaxMessageBytes))
	}
	// arrow-go sizes slices from vector lengths without checking them
	// against the buffer; every vector it reads is checked here first.
	strs := stringBudget{left: 2 * metaLen}
	if err := strs.keyValues(msg, msgCustomMetadata); err != nil {
		return g.fail(start, "metadata: %v", err)
	}
	htype, err := msg.uint8(msgHeaderType, 0)
	if err != nil {
		return g.fail(start, "metadata: %v", err)
	}
	header, ok, err := msg.table(msgHeader)
	if err != nil || !ok {
		return g.fail(start, "metadata has no header (%v)", err)
	}
	switch htype {
	case headerSchema:
		if g.schema {
			return g.fail(start, "a second schema message")
		}
		if bodyLen != 0 {
			return g.fail(start, "schema message with a %d-byte body", bodyLen)
		}
		if err := g.checkSchema(header, &strs); err != nil {
			return g.fail(start, "schema: %v", err)
		}
		g.schema = true
	case headerRecordBatch, headerDictionaryBatch:
		if !g.schema {
			return g.fail(start, "a batch before the schema message")
		}
	default:
		return g.fail(start, "message type %d is not a schema, record batch or dictionary batch", htype)
	}
	bodyStart := len(buf)
	if buf, err = g.readN(buf, bodyLen); err != nil {
		return g.truncated(start, err)
	}
	body := buf[bodyStart:]
	if htype != headerSchema {
		rb, want := header, g.batchLayout
		if htype == headerDictionaryBatch {
			id, err := header.int64(dictID, 0)
			if err != nil {
				return g.fail(start, "%v", err)
			}
			l, ok := g.dictLayouts[id]
			if !ok {
				return g.fail(start, "dictionary batch for id %d, which no field of the schema uses", id)
			}
			want = &l
			if rb, ok, err = header.table(dictData); err != nil || !ok {
				return g.fail(start, "dictionary batch without data (%v)", err)
			}
		}
		if want == nil {
			return g.fail(start, "a batch before the schema was decoded")
		}
		if err := g.checkBatch(rb, body, *want); err != nil {
			return g.fail(start, "%v", err)
		}
	}
	g.msgs++
	g.out = buf
	return nil
}

// truncated reports a body that ended inside a message, or passes on a read
// error (such as the body size limit) unchanged apart from context.
func (g *guard) truncated(start int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return g.fail(start, "the body ends at byte %d in the middle of the message (truncated body?)", g.offset)
	}
	return fmt.Errorf("read arrow stream message %d at byte %d: %w", g.msgs, start, err)
}

// charge adds n decoded bytes to the stream's budget.
func (g *guard) charge(n int64) error {
	if n < 0 || n > g.lim.MaxDecodedBytes-g.decoded {
		return fmt.Errorf("%w: the stream decodes to more than %d bytes (the server's limit for one request); send the data in smaller requests", ErrTooLarge, g.lim.MaxDecodedBytes)
	}
	g.decoded += n
	return nil
}

// checkBatch validates a RecordBatch header against its body.
func (g *guard) checkBatch(rb fbTable, body []byte, want layout) error {
	rows, err := rb.int64(rbLength, 0)
	if err != nil {
		return err
	}
	if rows < 0 {
		return fmt.Errorf("negative row count %d", rows)
	}
	// Every row costs at least a bit, so that a batch of columns without
	// buffers (the null type) cannot claim an unbounded number of rows.
	if err := g.charge(rows/8 + 1); err != nil {
		return err
	}
	nodes, n, err := rb.vector(rbNodes, structElemSize)
	if err != nil {
		return err
	}
	if n < want.nodes {
		return fmt.Errorf("%d field nodes, the schema needs %d", n, want.nodes)
	}
	for k := range n {
		length, nulls := rb.int64At(nodes+k*structElemSize), rb.int64At(nodes+k*structElemSize+8)
		if length < 0 || nulls < 0 || nulls > length {
			return fmt.Errorf("field node %d claims length %d with %d nulls", k, length, nulls)
		}
		if err := g.charge(length/8 + 1); err != nil {
			return err
		}
	}
	compressed := false
	if comp, ok, err := rb.table(rbCompression); err != nil {
		return err
	} else if ok {
		codec, err := comp.uint8(compCodec, 0)
		if err != nil {
			return err
		}
		if codec > 1 { // LZ4_FRAME = 0, ZSTD = 1
			return fmt.Errorf("unknown compression codec %d", codec)
		}
		compressed = true
	}
	bufs, nb, err := rb.vector(rbBuffers, structElemSize)
	if err != nil {
		return err
	}
	if nb < want.buffers {
		return fmt.Errorf("%d buffers, the schema needs %d", nb, want.buffers)
	}
	size := int64(len(body))
	for k := range nb {
		off, length := rb.int64At(bufs+k*structElemSize), rb.int64At(bufs+k*structElemSize+8)
		if off < 0 || length < 0 || off > size || length > size-off {
			return fmt.Errorf("buffer %d claims bytes [%d, +%d) of a %d-byte body", k, off, length, size)
		}
		decoded := length
		if compressed && length > 0 {
			if length < 8 {
				return fmt.Errorf("compressed buffer %d is %d bytes, too short for its length prefix", k, length)
			}
			switch claim := int64(binary.LittleEndian.Uint64(body[off:])); {
			case claim == -1: // stored uncompressed
				decoded = length - 8
			case claim < 0:
				return fmt.Errorf("compressed buffer %d claims a decompressed length of %d", k, claim)
			default:
				decoded = claim
			}
		}
		if err := g.charge(decoded); err != nil {
			return err
		}
	}
	return nil
}

// checkSchema bounds the nesting depth and the number of fields of the
// schema, so that building it (recursively, in arrow-go and in our schema
// conversion) cannot exhaust the stack or expand shared sub-tables
// exponentially, and checks every vector and string arrow-go reads from it.
func (g *guard) checkSchema(s fbTable, strs *stringBudget) error {
	budget := len(s.buf)/8 + 16
	var walk func(t fbTable, field, depth int) error
	walk = func(t fbTable, field, depth int) error {
		start, n, err := t.vector(field, 4)
		if err != nil {
			return err
		}
		for k := range n {
			budget--
			if budget < 0 {
				return errors.New("more fields than the metadata can hold (shared sub-tables?)")
			}
			f, err := t.tableElem(start, k)
			if err != nil {
				return err
			}
			if depth+1 > g.lim.MaxNestingDepth {
				return fmt.Errorf("fields nested more than %d levels deep", g.lim.MaxNestingDepth)
			}
			if err := strs.str(f, fieldName); err != nil {
				return err
			}
			if enc, ok, err := f.table(fieldDict); err != nil {
				return err
			} else if ok {
				id, err := enc.int64(dictEncodingID, 0)
				if err != nil {
					return err
				}
				g.dictIDs = append(g.dictIDs, id)
			}
			if err := strs.keyValues(f, fieldCustomMetadata); err != nil {
				return err
			}
			tt, err := f.uint8(fieldTypeType, 0)
			if err != nil {
				return err
			}
			switch tt {
			case typeUnion:
				return errors.New("union types are not supported")
			case typeTimestamp:
				typ, ok, err := f.table(fieldType)
				if err != nil {
					return err
				}
				if ok {
					if err := strs.str(typ, timestampTimezone); err != nil {
						return err
					}
				}
			}
			if err := walk(f, fieldChildren, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := strs.keyValues(s, schemaCustomMetadata); err != nil {
		return err
	}
	if _, _, err := s.vector(schemaFeatures, 8); err != nil {
		return err
	}
	return walk(s, schemaFields, 0)
}

// stringBudget bounds the bytes of all strings arrow-go copies out of one
// message. A well-formed message stores each string once, so their total is
// below the metadata size; a hostile one could point many fields or
// key-value pairs at one large string and have it copied over and over.
type stringBudget struct{ left int64 }

func (b *stringBudget) str(t fbTable, field int) error {
	_, n, err := t.vector(field, 1)
	if err != nil {
		return err
	}
	b.left -= int64(n)
	if b.left < 0 {
		return errors.New("strings add up to more than the metadata size (shared strings?)")
	}
	return nil
}

// keyValues checks a vector of KeyValue tables (custom metadata).
func (b *stringBudget) keyValues(t fbTable, field int) error {
	start, n, err := t.vector(field, 4)
	if err != nil {
		return err
	}
	for k := range n {
		kv, err := t.tableElem(start, k)
		if err != nil {
			return err
		}
		if err := b.str(kv, 0); err != nil {
			return err
		}
		if err := b.str(kv, 1); err != nil {
			return err
		}
		// Each pair also costs two string headers in arrow-go.
		b.left -= 32
	}
	if b.left < 0 {
		return errors.New("custom metadata larger than the message (shared entries?)")
	}
	return nil
}
