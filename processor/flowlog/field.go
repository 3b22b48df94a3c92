package flowlog

// Field identifies one flow-log field. The numbering is internal; the
// names (Field.String) are AWS's field names exactly as they appear in a
// flow-log format string.
type Field uint8

// The fields of VPC flow-log versions 2 to 8 and of transit-gateway flow logs.
const (
	FVersion Field = iota
	FAccountID
	FInterfaceID
	FSrcAddr
	FDstAddr
	FSrcPort
	FDstPort
	FProtocol
	FPackets
	FBytes
	FStart
	FEnd
	FAction
	FLogStatus
	// version 3
	FVPCID
	FSubnetID
	FInstanceID
	FTCPFlags
	FType
	FPktSrcAddr
	FPktDstAddr
	// version 4
	FRegion
	FAZID
	FSublocationType
	FSublocationID
	// version 5
	FPktSrcAWSService
	FPktDstAWSService
	FFlowDirection
	FTrafficPath
	// version 7
	FECSClusterARN
	FECSClusterName
	FECSContainerInstanceARN
	FECSContainerInstanceID
	FECSContainerID
	FECSSecondContainerID
	FECSServiceName
	FECSTaskDefinitionARN
	FECSTaskARN
	FECSTaskID
	// version 8
	FRejectReason
	// transit gateway
	FResourceType
	FTGWID
	FTGWAttachmentID
	FTGWSrcVPCAccountID
	FTGWDstVPCAccountID
	FTGWSrcVPCID
	FTGWDstVPCID
	FTGWSrcSubnetID
	FTGWDstSubnetID
	FTGWSrcENI
	FTGWDstENI
	FTGWSrcAZID
	FTGWDstAZID
	FTGWPairAttachmentID
	FPacketsLostNoRoute
	FPacketsLostBlackhole
	FPacketsLostMTUExceeded
	FPacketsLostTTLExpired

	// NumFields is the number of known fields.
	NumFields
)

var fieldNames = [NumFields]string{
	FVersion:                 "version",
	FAccountID:               "account-id",
	FInterfaceID:             "interface-id",
	FSrcAddr:                 "srcaddr",
	FDstAddr:                 "dstaddr",
	FSrcPort:                 "srcport",
	FDstPort:                 "dstport",
	FProtocol:                "protocol",
	FPackets:                 "packets",
	FBytes:                   "bytes",
	FStart:                   "start",
	FEnd:                     "end",
	FAction:                  "action",
	FLogStatus:               "log-status",
	FVPCID:                   "vpc-id",
	FSubnetID:                "subnet-id",
	FInstanceID:              "instance-id",
	FTCPFlags:                "tcp-flags",
	FType:                    "type",
	FPktSrcAddr:              "pkt-srcaddr",
	FPktDstAddr:              "pkt-dstaddr",
	FRegion:                  "region",
	FAZID:                    "az-id",
	FSublocationType:         "sublocation-type",
	FSublocationID:           "sublocation-id",
	FPktSrcAWSService:        "pkt-src-aws-service",
	FPktDstAWSService:        "pkt-dst-aws-service",
	FFlowDirection:           "flow-direction",
	FTrafficPath:             "traffic-path",
	FECSClusterARN:           "ecs-cluster-arn",
	FECSClusterName:          "ecs-cluster-name",
	FECSContainerInstanceARN: "ecs-container-instance-arn",
	FECSContainerInstanceID:  "ecs-container-instance-id",
	FECSContainerID:          "ecs-container-id",
	FECSSecondContainerID:    "ecs-second-container-id",
	FECSServiceName:          "ecs-service-name",
	FECSTaskDefinitionARN:    "ecs-task-definition-arn",
	FECSTaskARN:              "ecs-task-arn",
	FECSTaskID:               "ecs-task-id",
	FRejectReason:            "reject-reason",
	FResourceType:            "resource-type",
	FTGWID:                   "tgw-id",
	FTGWAttachmentID:         "tgw-attachment-id",
	FTGWSrcVPCAccountID:      "tgw-src-vpc-account-id",
	FTGWDstVPCAccountID:      "tgw-dst-vpc-account-id",
	FTGWSrcVPCID:             "tgw-src-vpc-id",
	FTGWDstVPCID:             "tgw-dst-vpc-id",
	FTGWSrcSubnetID:          "tgw-src-subnet-id",
	FTGWDstSubnetID:          "tgw-dst-subnet-id",
	FTGWSrcENI:               "tgw-src-eni",
	FTGWDstENI:               "tgw-dst-eni",
	FTGWSrcAZID:              "tgw-src-az-id",
	FTGWDstAZID:              "tgw-dst-az-id",
	FTGWPairAttachmentID:     "tgw-pair-attachment-id",
	FPacketsLostNoRoute:      "packets-lost-no-route",
	FPacketsLostBlackhole:    "packets-lost-blackhole",
	FPacketsLostMTUExceeded:  "packets-lost-mtu-exceeded",
	FPacketsLostTTLExpired:   "packets-lost-ttl-expired",
}

// Kind is how a field's value is typed in the record and in JSON output
// (following AWS's Parquet schema for flow logs).
type Kind uint8

const (
	// KindString fields are kept as text.
	KindString Kind = iota
	// KindInt fields are integers (JSON numbers).
	KindInt
	// KindAddr fields are IP addresses (netip.Addr), written as strings.
	KindAddr
)

var fieldKinds = [NumFields]Kind{
	FVersion:                KindInt,
	FSrcAddr:                KindAddr,
	FDstAddr:                KindAddr,
	FSrcPort:                KindInt,
	FDstPort:                KindInt,
	FProtocol:               KindInt,
	FPackets:                KindInt,
	FBytes:                  KindInt,
	FStart:                  KindInt,
	FEnd:                    KindInt,
	FTCPFlags:               KindInt,
	FPktSrcAddr:             KindAddr,
	FPktDstAddr:             KindAddr,
	FTrafficPath:            KindInt,
	FPacketsLostNoRoute:     KindInt,
	FPacketsLostBlackhole:   KindInt,
	FPacketsLostMTUExceeded: KindInt,
	FPacketsLostTTLExpired:  KindInt,
}

// String returns the AWS field name, e.g. "srcaddr" or "log-status".
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return "unknown"
}

// Kind reports how the field is typed.
func (f Field) Kind() Kind {
	if f < NumFields {
		return fieldKinds[f]
	}
	return KindString
}

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, NumFields)
	for i, n := range fieldNames {
		m[n] = Field(i)
	}
	return m
}()

// FieldByName returns the field with the AWS name n ("srcaddr", "tcp-flags", …).
func FieldByName(n string) (Field, bool) {
	f, ok := fieldByName[n]
	return f, ok
}

// FieldSet is a set of fields, one bit each.
type FieldSet uint64

// Has reports whether f is in s.
func (s FieldSet) Has(f Field) bool { return s&(1<<f) != 0 }

// With returns s with f added.
func (s FieldSet) With(f Field) FieldSet { return s | 1<<f }

// DefaultFormat is the default (version 2) flow-log format, in order.
var DefaultFormat = []Field{
	FVersion, FAccountID, FInterfaceID, FSrcAddr, FDstAddr, FSrcPort, FDstPort,
	FProtocol, FPackets, FBytes, FStart, FEnd, FAction, FLogStatus,
}
