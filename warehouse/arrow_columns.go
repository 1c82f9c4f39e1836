//go:build duckdb_arrow

package warehouse

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Columns written straight into their Arrow buffers. The array builders
// check capacity, grow and type-switch on every value; for the events
// table's eighteen columns that was about a tenth of the pipeline's CPU
// (issue 11). These know the row count up front and append into Go slices
// that become the arrays' buffers as they are.

// validity is an Arrow validity bitmap with its null count.
type validity struct {
	bits  []byte
	nulls int
}

func newValidity(n int) validity { return validity{bits: make([]byte, bitutil.BytesForBits(int64(n)))} }

func (v *validity) set(i int, ok bool) {
	if ok {
		bitutil.SetBit(v.bits, i)
	} else {
		v.nulls++
	}
}

// buffer is the bitmap for the array's data, nil when there are no nulls.
func (v *validity) buffer() *memory.Buffer {
	if v.nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(v.bits)
}

// strColumn is a utf8 column.
type strColumn struct {
	offsets []int32
	data    []byte
	valid   validity
}

// newStrColumn makes a column for n values of size bytes in all.
func newStrColumn(n, size int) *strColumn {
	return &strColumn{offsets: make([]int32, 1, n+1), data: make([]byte, 0, size), valid: newValidity(n)}
}

func (c *strColumn) add(s string) {
	c.valid.set(len(c.offsets)-1, true)
	c.data = append(c.data, s...)
	c.offsets = append(c.offsets, int32(len(c.data)))
}

// addIf adds s, or a null when has is false.
func (c *strColumn) addIf(has bool, s string) {
	if !has {
		c.valid.set(len(c.offsets)-1, false)
		c.offsets = append(c.offsets, int32(len(c.data)))
		return
	}
	c.add(s)
}

func (c *strColumn) array() arrow.Array {
	data := array.NewData(arrow.BinaryTypes.String, len(c.offsets)-1,
		[]*memory.Buffer{c.valid.buffer(), memory.NewBufferBytes(bytesOf(c.offsets)), memory.NewBufferBytes(c.data)},
		nil, c.valid.nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// fixedColumn is a column of fixed-width values whose Go type has the
// Arrow type's memory layout (int32, int64, arrow.Timestamp,
// decimal128.Num).
type fixedColumn[T any] struct {
	typ   arrow.DataType
	vals  []T
	valid validity
}

func newFixedColumn[T any](typ arrow.DataType, n int) *fixedColumn[T] {
	return &fixedColumn[T]{typ: typ, vals: make([]T, 0, n), valid: newValidity(n)}
}

func (c *fixedColumn[T]) add(v T) {
	c.valid.set(len(c.vals), true)
	c.vals = append(c.vals, v)
}

// addIf adds v, or a null when has is false.
func (c *fixedColumn[T]) addIf(has bool, v T) {
	if !has {
		c.valid.set(len(c.vals), false)
		var zero T
		c.vals = append(c.vals, zero)
		return
	}
	c.add(v)
}

func (c *fixedColumn[T]) array() arrow.Array {
	data := array.NewData(c.typ, len(c.vals),
		[]*memory.Buffer{c.valid.buffer(), memory.NewBufferBytes(bytesOf(c.vals))}, nil, c.valid.nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// boolColumn is a column of booleans with no nulls.
type boolColumn struct {
	bits []byte
	n    int
}

func newBoolColumn(n int) *boolColumn {
	return &boolColumn{bits: make([]byte, bitutil.BytesForBits(int64(n)))}
}

func (c *boolColumn) add(v bool) {
	if v {
		bitutil.SetBit(c.bits, c.n)
	}
	c.n++
}

func (c *boolColumn) array() arrow.Array {
	data := array.NewData(arrow.FixedWidthTypes.Boolean, c.n, []*memory.Buffer{nil, memory.NewBufferBytes(c.bits)}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// bytesOf is the memory of s as bytes.
func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// recordOf makes a record batch of n rows from arrays in schema order.
func recordOf(schema *arrow.Schema, n int, cols ...arrow.Array) arrow.RecordBatch {
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release() // the record holds its own reference
	}
	return rec
}
