package app

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// decodeErrorField is the field number of the mark a failed decode leaves
// in a message's unknown fields: the largest there is, which no message of
// the contract uses.
const decodeErrorField protowire.Number = protowire.MaxValidNumber

// requestCodec is the server's protobuf codec. grpc-go turns any error of a
// codec's Unmarshal into Internal, as if the server were at fault; a
// request that is not valid protobuf (truncated, a string that is not
// UTF-8) is the caller's mistake, InvalidArgument. So Unmarshal resets the
// message, leaves the error in it as an unknown field, and returns nil;
// checkDecoded turns the mark into InvalidArgument before anything reads
// the (empty) request. The mark lives and dies with the message: nothing
// is kept aside, whatever happens to the call.
type requestCodec struct {
	encoding.CodecV2
}

func newRequestCodec() requestCodec {
	return requestCodec{CodecV2: encoding.GetCodecV2("proto")}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	proto.Reset(m)
	mark := protowire.AppendTag(nil, decodeErrorField, protowire.BytesType)
	mark = protowire.AppendString(mark, err.Error())
	m.ProtoReflect().SetUnknown(mark)
	return nil
}

// decodeErr is the InvalidArgument status of a message that did not
// decode, or nil.
func decodeErr(v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return nil
	}
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == decodeErrorField && typ == protowire.BytesType {
			msg, _ := protowire.ConsumeString(b)
			return status.Errorf(codes.InvalidArgument, "request is not a valid %s: %s",
				m.ProtoReflect().Descriptor().FullName(), msg)
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return nil
		}
		b = b[n:]
	}
	return nil
}
