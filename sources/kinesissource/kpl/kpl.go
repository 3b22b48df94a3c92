// Package kpl decodes and encodes records aggregated by the Kinesis Producer
// Library (KPL).
//
// An aggregated Kinesis record is the 4-byte magic F3 89 9A C2, a protobuf
// AggregatedRecord message, and the MD5 digest of that message:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//
// The user records of an aggregated Kinesis record share its sequence number
// and are told apart by their index, the sub-sequence number.
package kpl

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic starts every aggregated record.
var Magic = [4]byte{0xF3, 0x89, 0x9A, 0xC2}

const digestLen = md5.Size

// ErrNotAggregated is returned by Deaggregate when data does not start with
// Magic or is too short to hold a digest.
var ErrNotAggregated = errors.New("kpl: not an aggregated record")

// ErrChecksum is returned by Deaggregate when the MD5 trailer does not match
// the message.
var ErrChecksum = errors.New("kpl: md5 checksum mismatch")

// IsAggregated reports whether data carries the KPL magic and is long enough
// to be an aggregated record. It does not check the digest.
func IsAggregated(data []byte) bool {
	return len(data) >= len(Magic)+digestLen && [4]byte(data[:4]) == Magic
}

// Deaggregate checks the digest of an aggregated record and appends the data
// of its user records, in sub-sequence order, to dst. The returned slices
// alias data. A malformed record returns an error and dst unchanged.
func Deaggregate(data []byte, dst [][]byte) ([][]byte, error) {
	if !IsAggregated(data) {
		return dst, ErrNotAggregated
	}
	msg := data[len(Magic) : len(data)-digestLen]
	sum := md5.Sum(msg)
	if !bytes.Equal(sum[:], data[len(data)-digestLen:]) {
		return dst, ErrChecksum
	}
	n := len(dst)
	var nKeys, maxPK uint64
	for len(msg) > 0 {
		num, typ, _, body, rest, err := field(msg)
		if err != nil {
			return dst[:n], err
		}
		msg = rest
		switch {
		case num == 1 && typ == wireBytes:
			nKeys++
		case num == 3 && typ == wireBytes:
			d, pk, err := record(body)
			if err != nil {
				return dst[:n], fmt.Errorf("kpl: user record %d: %w", len(dst)-n, err)
			}
			maxPK = max(maxPK, pk)
			dst = append(dst, d)
		}
	}
	// The key table may follow the records in the message, so indexes are
	// checked once it is read.
	if len(dst) > n && maxPK >= nKeys {
		return dst[:n], fmt.Errorf("kpl: partition key index %d out of range (%d keys)", maxPK, nKeys)
	}
	return dst, nil
}

// record decodes one Record message and returns its data and partition key
// index.
func record(msg []byte) (data []byte, pk uint64, err error) {
	var hasData, hasPK bool
	for len(msg) > 0 {
		num, typ, v, body, rest, err := field(msg)
		if err != nil {
			return nil, 0, err
		}
		msg = rest
		switch {
		case num == 1 && typ == wireVarint:
			pk, hasPK = v, true
		case num == 3 && typ == wireBytes:
			data, hasData = body, true
		}
	}
	if !hasPK {
		return nil, 0, errors.New("missing partition_key_index")
	}
	if !hasData {
		return nil, 0, errors.New("missing data")
	}
	return data, pk, nil
}

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

var errTruncated = errors.New("kpl: truncated protobuf message")

// field reads one protobuf field: v holds a varint's value, body the
// payload of a length-delimited or fixed-size field.
func field(b []byte) (num uint64, typ int, v uint64, body, rest []byte, err error) {
	tag, n := uvarint(b)
	if n <= 0 {
		return 0, 0, 0, nil, nil, errTruncated
	}
	b = b[n:]
	num, typ = tag>>3, int(tag&7)
	if num == 0 {
		return 0, 0, 0, nil, nil, errors.New("kpl: protobuf field number 0")
	}
	switch typ {
	case wireVarint:
		v, n := uvarint(b)
		if n <= 0 {
			return 0, 0, 0, nil, nil, errTruncated
		}
		return num, typ, v, nil, b[n:], nil
	case wire64:
		if len(b) < 8 {
			return 0, 0, 0, nil, nil, errTruncated
		}
		return num, typ, 0, b[:8], b[8:], nil
	case wire32:
		if len(b) < 4 {
			return 0, 0, 0, nil, nil, errTruncated
		}
		return num, typ, 0, b[:4], b[4:], nil
	case wireBytes:
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return 0, 0, 0, nil, nil, errTruncated
		}
		b = b[n:]
		return num, typ, 0, b[:l:l], b[l:], nil
	default:
		return 0, 0, 0, nil, nil, fmt.Errorf("kpl: unsupported protobuf wire type %d", typ)
	}
}

// uvarint is binary.Uvarint; n <= 0 means truncated or overflowing.
func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

// Aggregate encodes user records into one aggregated record, all under one
// partition key, as the KPL does. It is used by tests, benchmarks and tools
// that produce KPL-compatible records.
func Aggregate(partitionKey string, records [][]byte) []byte {
	var msg []byte
	msg = appendBytes(msg, 1, []byte(partitionKey))
	for _, d := range records {
		var r []byte
		r = binary.AppendUvarint(r, 1<<3|wireVarint)
		r = binary.AppendUvarint(r, 0)
		r = appendBytes(r, 3, d)
		msg = appendBytes(msg, 3, r)
	}
	out := make([]byte, 0, len(Magic)+len(msg)+digestLen)
	out = append(out, Magic[:]...)
	out = append(out, msg...)
	sum := md5.Sum(msg)
	return append(out, sum[:]...)
}

func appendBytes(b []byte, num uint64, v []byte) []byte {
	b = binary.AppendUvarint(b, num<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
