package encoding

import "github.com/vpcflow/vpcflow/processor/flowlog"

// sumoEncoder writes what the Sumo Logic CloudWatch Logs Lambda posts for
// LogFormat VPC-JSON (encoding sumo_vpc_json).
type sumoEncoder struct{ opts Options }

func (e sumoEncoder) AppendRecord(dst []byte, r *flowlog.Record) []byte {
	msg := jsTrim(r.Raw)
	if len(msg) == 0 {
		return dst // the Lambda drops records whose message is empty
	}
	dst = append(dst, `{"message":`...)
	dst = appendQuoted(dst, msg)
	if o := r.Origin; e.opts.IncludeLogInfo && o != nil && o.LogGroup != "" {
		dst = append(dst, `,"logStream":`...)
		dst = appendQuotedString(dst, o.LogStream)
		dst = append(dst, `,"logGroup":`...)
		dst = appendQuotedString(dst, o.LogGroup)
	}
	if eni := r.ENI; eni != nil {
		dst = append(dst, `,"security-group-ids":`...)
		dst = appendStringArray(dst, eni.SecurityGroupIDs)
		if d := r.Direction.String(); d != "" {
			dst = append(dst, `,"direction":"`...)
			dst = append(dst, d...)
			dst = append(dst, '"')
		}
		dst, _ = appendOptString(dst, "subnet-id", eni.SubnetID, true)
		dst, _ = appendOptString(dst, "vpc-id", eni.VPCID, true)
		dst, _ = appendOptString(dst, "aws-region", eni.Region, true)
	}
	return append(dst, '}', '\n')
}

func (e sumoEncoder) AppendFailure(dst []byte, f *flowlog.Failure) []byte {
	return appendFailureJSON(dst, f)
}

// rawEncoder writes the line itself (encoding raw).
type rawEncoder struct{}

func (rawEncoder) AppendRecord(dst []byte, r *flowlog.Record) []byte {
	msg := jsTrim(r.Raw)
	if len(msg) == 0 {
		return dst
	}
	dst = append(dst, msg...)
	return append(dst, '\n')
}

func (rawEncoder) AppendFailure(dst []byte, f *flowlog.Failure) []byte {
	dst = append(dst, f.Raw...)
	return append(dst, '\n')
}
