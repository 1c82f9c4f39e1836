package producer

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A bulk producer for files: it encodes each line straight into a Kafka
// record batch (magic v2, uncompressed) for its partition, and sends the
// batches of all partitions in one produce request at a time, waiting for
// each before the next, so a partition's records land in file order. It
// spares franz-go's per-record machinery — a Record, a promise and a buffer
// slot for every line — which cost a replay more than encoding the lines;
// the records are the same, partitioned the same (Kafka's murmur2 of the
// key, as franz-go's default partitioner).

// batchHeaderBytes is the size of a v2 record batch header, from the base
// offset through the record count.
const batchHeaderBytes = 61

// maxRecordOverhead bounds what a record adds to its batch beyond its key
// and value: its length, attributes, timestamp and offset deltas, key and
// value lengths and header count.
const maxRecordOverhead = 5 + 1 + 1 + 5 + 5 + 5 + 1

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// recordBatch is the batch being built for one partition.
type recordBatch struct {
	buf   []byte // header placeholder, then the records
	n     int32  // records
	first time.Time
}

func (b *recordBatch) reset(buf []byte) {
	b.buf = append(buf[:0], make([]byte, batchHeaderBytes)...)
	b.n = 0
}

// add appends a record of key and value.
func (b *recordBatch) add(key, value []byte) {
	if b.n == 0 {
		b.first = time.Now()
	}
	// attributes, timestamp delta (0), offset delta, key, value, no headers
	body := 1 + 1 + kbin.VarintLen(b.n) +
		kbin.VarintLen(int32(len(key))) + len(key) +
		kbin.VarintLen(int32(len(value))) + len(value) + 1
	dst := kbin.AppendVarint(b.buf, int32(body))
	dst = append(dst, 0)              // attributes
	dst = kbin.AppendVarlong(dst, 0)  // timestamp delta
	dst = kbin.AppendVarint(dst, b.n) // offset delta
	dst = kbin.AppendVarint(dst, int32(len(key)))
	dst = append(dst, key...)
	dst = kbin.AppendVarint(dst, int32(len(value)))
	dst = append(dst, value...)
	dst = kbin.AppendVarint(dst, 0) // headers
	b.buf = dst
	b.n++
}

// seal fills in the header and returns the finished batch.
func (b *recordBatch) seal() []byte {
	h := b.buf[:batchHeaderBytes]
	ts := b.first.UnixMilli()
	binary.BigEndian.PutUint64(h[0:], 0)                     // base offset, set by the broker
	binary.BigEndian.PutUint32(h[8:], uint32(len(b.buf)-12)) // batch length
	binary.BigEndian.PutUint32(h[12:], 0xffffffff)           // partition leader epoch: -1
	h[16] = 2                                                // magic
	binary.BigEndian.PutUint16(h[21:], 0)                    // attributes: no compression, create time
	binary.BigEndian.PutUint32(h[23:], uint32(b.n-1))        // last offset delta
	binary.BigEndian.PutUint64(h[27:], uint64(ts))           // first timestamp
	binary.BigEndian.PutUint64(h[35:], uint64(ts))           // max timestamp
	binary.BigEndian.PutUint64(h[43:], 0xffffffffffffffff)   // producer id: -1
	binary.BigEndian.PutUint16(h[51:], 0xffff)               // producer epoch: -1
	binary.BigEndian.PutUint32(h[53:], 0xffffffff)           // base sequence: -1
	binary.BigEndian.PutUint32(h[57:], uint32(b.n))          // records
	binary.BigEndian.PutUint32(h[17:], crc32.Checksum(b.buf[21:], crc32c))
	return b.buf
}

// topicPartitions returns the partition count and id of topic.
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) (int, [16]byte, error) {
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, [16]byte{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	td, ok := topics[topic]
	switch {
	case !ok:
		return 0, [16]byte{}, fmt.Errorf("metadata of %s: %w", topic, kerr.UnknownTopicOrPartition)
	case td.Err != nil:
		return 0, [16]byte{}, fmt.Errorf("metadata of %s: %w", topic, td.Err)
	case len(td.Partitions) == 0:
		return 0, [16]byte{}, fmt.Errorf("topic %s has no partitions", topic)
	}
	return len(td.Partitions), td.ID, nil
}

// produceReq is one produce request's batches and what they hold.
type produceReq struct {
	parts   []int32
	batches [][]byte
	counts  []int32
}

// sender sends produce requests one at a time and records, per partition,
// the offset after the last record acknowledged.
type sender struct {
	cl    *kgo.Client
	topic string
	id    [16]byte
	end   map[int32]int64
	n     int64
	free  chan []byte
}

func (s *sender) send(ctx context.Context, r produceReq) error {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 60_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = s.topic, s.id
	for i, p := range r.parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = r.batches[i]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return fmt.Errorf("produce to %s: %w", s.topic, err)
	}
	base := make(map[int32]int64, len(r.parts))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("produce to %s/%d: %w", s.topic, p.Partition, err)
			}
			base[p.Partition] = p.BaseOffset
		}
	}
	for i, p := range r.parts {
		b, ok := base[p]
		if !ok {
			return fmt.Errorf("produce to %s: no answer for partition %d", s.topic, p)
		}
		s.end[p] = b + int64(r.counts[i])
		s.n += int64(r.counts[i])
		select {
		case s.free <- r.batches[i]:
		default:
		}
	}
	return nil
}
