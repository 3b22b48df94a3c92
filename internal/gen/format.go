package gen

import (
	"fmt"
	"strings"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// tgwFields are the fields of a transit-gateway flow log in AWS's order
// (every field; what a transit-gateway flow log holds by default).
var tgwFields = []flowlog.Field{
	flowlog.FVersion, flowlog.FResourceType, flowlog.FAccountID, flowlog.FTGWID, flowlog.FTGWAttachmentID,
	flowlog.FTGWSrcVPCAccountID, flowlog.FTGWDstVPCAccountID, flowlog.FTGWSrcVPCID, flowlog.FTGWDstVPCID,
	flowlog.FTGWSrcSubnetID, flowlog.FTGWDstSubnetID, flowlog.FTGWSrcENI, flowlog.FTGWDstENI,
	flowlog.FTGWSrcAZID, flowlog.FTGWDstAZID, flowlog.FTGWPairAttachmentID,
	flowlog.FSrcAddr, flowlog.FDstAddr, flowlog.FSrcPort, flowlog.FDstPort, flowlog.FProtocol,
	flowlog.FPackets, flowlog.FBytes, flowlog.FStart, flowlog.FEnd, flowlog.FLogStatus, flowlog.FType,
	flowlog.FPacketsLostNoRoute, flowlog.FPacketsLostBlackhole, flowlog.FPacketsLostMTUExceeded,
	flowlog.FPacketsLostTTLExpired, flowlog.FTCPFlags, flowlog.FRegion, flowlog.FFlowDirection,
	flowlog.FPktSrcAWSService, flowlog.FPktDstAWSService,
}

// fieldVersion is the flow-log version that introduced f (6 for the
// transit-gateway fields).
func fieldVersion(f flowlog.Field) int {
	switch {
	case f <= flowlog.FLogStatus:
		return 2
	case f <= flowlog.FPktDstAddr:
		return 3
	case f <= flowlog.FSublocationID:
		return 4
	case f <= flowlog.FTrafficPath:
		return 5
	case f <= flowlog.FECSTaskID:
		return 7
	case f == flowlog.FRejectReason:
		return 8
	}
	return 6
}

// FormatNames lists the named formats Format accepts besides custom
// "${…}" strings.
var FormatNames = []string{"default", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "tgw"}

// Format returns the format a Config.Format value names: "default" (or
// "v2"), "v3" … "v8" (every field up to that version, in AWS's order;
// v6 introduced no VPC field and equals v5), "tgw" (every transit-gateway
// flow-log field) or a custom "${field} …" format.
func Format(name string) (*parse.Format, error) {
	switch name {
	case "", "default", "v2":
		return parse.Default(), nil
	case "tgw":
		return compileFields(tgwFields)
	}
	if len(name) == 2 && name[0] == 'v' && name[1] >= '3' && name[1] <= '8' {
		max := int(name[1] - '0')
		var fs []flowlog.Field
		for f := range flowlog.FResourceType {
			if fieldVersion(f) <= max {
				fs = append(fs, f)
			}
		}
		return compileFields(fs)
	}
	if !strings.Contains(name, "${") {
		return nil, fmt.Errorf("unknown format %q: want %s or a custom \"${field} …\" format", name, strings.Join(FormatNames, ", "))
	}
	return parse.Compile(name)
}

func compileFields(fs []flowlog.Field) (*parse.Format, error) {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = "${" + f.String() + "}"
	}
	return parse.Compile(strings.Join(names, " "))
}

// formatVersion is the value of the version field in lines of f: the
// highest version among its fields, as AWS writes it.
func formatVersion(f *parse.Format) int {
	v := 2
	for _, fl := range f.Fields() {
		v = max(v, fieldVersion(fl))
	}
	return v
}
