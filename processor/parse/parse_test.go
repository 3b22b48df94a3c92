package parse

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// parseLine parses s with f into a fresh record.
func parseLine(t testing.TB, f *Format, s string) (*flowlog.Record, error) {
	t.Helper()
	r := &flowlog.Record{Raw: []byte(s)}
	err := f.Parse(r)
	return r, err
}

func mustFormat(t testing.TB, spec string) *Format {
	t.Helper()
	f, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile(%q): %v", spec, err)
	}
	return f
}

// text returns field fl as text ("" when absent).
func text(r *flowlog.Record, fl flowlog.Field) string { return string(r.Text(fl)) }

// want describes expected field values as text: the value as written in
// the line for strings, and the parsed value for ints and addresses.
type want map[flowlog.Field]string

// check compares r against w: each field in w must be present with that
// value; every other field of f must be absent.
func check(t *testing.T, f *Format, r *flowlog.Record, w want) {
	t.Helper()
	for _, fl := range f.Fields() {
		exp, ok := w[fl]
		if !ok {
			if r.Has(fl) {
				t.Errorf("%s: present (%q), want absent", fl, text(r, fl))
			}
			continue
		}
		if !r.Has(fl) {
			t.Errorf("%s: absent, want %q", fl, exp)
			continue
		}
		var got string
		switch fl.Kind() {
		case flowlog.KindInt:
			got = string(appendField(nil, r, fl))
		case flowlog.KindAddr:
			a, _ := r.Addr(fl)
			got = a.String()
		default:
			got = text(r, fl)
		}
		if got != exp {
			t.Errorf("%s = %q, want %q", fl, got, exp)
		}
	}
	for fl := range w {
		if !f.Has(fl) {
			t.Errorf("test bug: %s not in format", fl)
		}
	}
}

const (
	// Formats of the custom-format examples in AWS's VPC flow-log
	// documentation ("Flow log record examples").
	fmtTCPFlags = "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}"
	fmtNAT      = "${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}"
	fmtTGWENI   = "${version} ${interface-id} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}"
	fmtV5       = "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${type} ${packets} ${bytes} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${region} ${az-id} ${sublocation-type} ${sublocation-id} ${action} ${tcp-flags} ${pkt-srcaddr} ${pkt-dstaddr} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${traffic-path} ${flow-direction} ${log-status}"
	fmtV4       = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${sublocation-type} ${sublocation-id}"
	fmtV7       = "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} ${log-status} ${ecs-cluster-arn} ${ecs-cluster-name} ${ecs-container-instance-arn} ${ecs-container-instance-id} ${ecs-container-id} ${ecs-second-container-id} ${ecs-service-name} ${ecs-task-definition-arn} ${ecs-task-arn} ${ecs-task-id}"
	fmtV8       = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${reject-reason}"
	// Transit gateway flow logs: every field, in AWS's order.
	fmtTGW = "${version} ${resource-type} ${account-id} ${tgw-id} ${tgw-attachment-id} ${tgw-src-vpc-account-id} ${tgw-dst-vpc-account-id} ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} ${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} ${tgw-pair-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${log-status} ${type} ${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} ${packets-lost-ttl-expired} ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} ${pkt-dst-aws-service}"
)

func TestParseAWSExamples(t *testing.T) {
	for _, tc := range []struct {
		name, format, line string
		want               want
	}{
		{
			name: "default accepted SSH", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "172.31.16.139", flowlog.FDstAddr: "172.31.16.21", flowlog.FSrcPort: "20641", flowlog.FDstPort: "22",
				flowlog.FProtocol: "6", flowlog.FPackets: "20", flowlog.FBytes: "4249", flowlog.FStart: "1418530010", flowlog.FEnd: "1418530070",
				flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "default rejected RDP", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "172.31.9.69", flowlog.FDstAddr: "172.31.9.12", flowlog.FSrcPort: "49761", flowlog.FDstPort: "3389",
				flowlog.FProtocol: "6", flowlog.FPackets: "20", flowlog.FBytes: "4249", flowlog.FStart: "1418530010", flowlog.FEnd: "1418530070",
				flowlog.FAction: "REJECT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "default NODATA", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FStart: "1431280876", flowlog.FEnd: "1431280934", flowlog.FLogStatus: "NODATA"},
		},
		{
			name: "default SKIPDATA", format: "default",
			line: "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-11111111aaaaaaaaa",
				flowlog.FStart: "1431280876", flowlog.FEnd: "1431280934", flowlog.FLogStatus: "SKIPDATA"},
		},
		{
			name: "default ICMP ping accepted (security group)", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "203.0.113.12", flowlog.FDstAddr: "172.31.16.139", flowlog.FSrcPort: "0", flowlog.FDstPort: "0",
				flowlog.FProtocol: "1", flowlog.FPackets: "4", flowlog.FBytes: "336", flowlog.FStart: "1432917027", flowlog.FEnd: "1432917142",
				flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "default ICMP reply rejected (network ACL)", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "172.31.16.139", flowlog.FDstAddr: "203.0.113.12", flowlog.FSrcPort: "0", flowlog.FDstPort: "0",
				flowlog.FProtocol: "1", flowlog.FPackets: "4", flowlog.FBytes: "336", flowlog.FStart: "1432917094", flowlog.FEnd: "1432917142",
				flowlog.FAction: "REJECT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "default IPv6", format: "default",
			line: "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "2001:db8:1234:a100:8d6e:3477:df66:f105", flowlog.FDstAddr: "2001:db8:1234:a102:3304:8879:34cf:4071",
				flowlog.FSrcPort: "34892", flowlog.FDstPort: "22", flowlog.FProtocol: "6", flowlog.FPackets: "54", flowlog.FBytes: "8855",
				flowlog.FStart: "1477913708", flowlog.FEnd: "1477913820", flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "v3 TCP flag sequence SYN", format: fmtTCPFlags,
			line: "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-01234567890123456 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK",
			want: want{flowlog.FVersion: "3", flowlog.FVPCID: "vpc-abcdefab012345678", flowlog.FSubnetID: "subnet-aaaaaaaa012345678",
				flowlog.FInstanceID: "i-01234567890123456", flowlog.FInterfaceID: "eni-01234567890123456", flowlog.FAccountID: "123456789010",
				flowlog.FType: "IPv4", flowlog.FSrcAddr: "52.213.180.42", flowlog.FDstAddr: "10.0.0.62", flowlog.FSrcPort: "43416", flowlog.FDstPort: "5001",
				flowlog.FPktSrcAddr: "52.213.180.42", flowlog.FPktDstAddr: "10.0.0.62", flowlog.FProtocol: "6", flowlog.FBytes: "568", flowlog.FPackets: "8",
				flowlog.FStart: "1566848875", flowlog.FEnd: "1566848933", flowlog.FAction: "ACCEPT", flowlog.FTCPFlags: "2", flowlog.FLogStatus: "OK"},
		},
		{
			name: "v3 TCP flag sequence FIN", format: fmtTCPFlags,
			line: "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-01234567890123456 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 63388 1219 1566848933 1566849113 ACCEPT 1 OK",
			want: want{flowlog.FVersion: "3", flowlog.FVPCID: "vpc-abcdefab012345678", flowlog.FSubnetID: "subnet-aaaaaaaa012345678",
				flowlog.FInstanceID: "i-01234567890123456", flowlog.FInterfaceID: "eni-01234567890123456", flowlog.FAccountID: "123456789010",
				flowlog.FType: "IPv4", flowlog.FSrcAddr: "10.0.0.62", flowlog.FDstAddr: "52.213.180.42", flowlog.FSrcPort: "5001", flowlog.FDstPort: "43418",
				flowlog.FPktSrcAddr: "10.0.0.62", flowlog.FPktDstAddr: "52.213.180.42", flowlog.FProtocol: "6", flowlog.FBytes: "63388", flowlog.FPackets: "1219",
				flowlog.FStart: "1566848933", flowlog.FEnd: "1566849113", flowlog.FAction: "ACCEPT", flowlog.FTCPFlags: "1", flowlog.FLogStatus: "OK"},
		},
		{
			name: "NAT gateway: instance to internet through NAT", format: fmtNAT,
			line: "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
			want: want{flowlog.FInterfaceID: "eni-1235b8ca123456789", flowlog.FSrcAddr: "10.0.1.5", flowlog.FDstAddr: "10.0.0.220",
				flowlog.FPktSrcAddr: "10.0.1.5", flowlog.FPktDstAddr: "203.0.113.5"},
		},
		{
			name: "NAT gateway: instance side", format: fmtNAT,
			line: "i-01234567890123456 eni-11111111aaaaaaaaa 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5",
			want: want{flowlog.FInstanceID: "i-01234567890123456", flowlog.FInterfaceID: "eni-11111111aaaaaaaaa", flowlog.FSrcAddr: "10.0.1.5",
				flowlog.FDstAddr: "203.0.113.5", flowlog.FPktSrcAddr: "10.0.1.5", flowlog.FPktDstAddr: "203.0.113.5"},
		},
		{
			name: "transit gateway ENI in VPC", format: fmtTGWENI,
			line: "3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK",
			want: want{flowlog.FVersion: "3", flowlog.FInterfaceID: "eni-11111111111111111", flowlog.FAccountID: "123456789010",
				flowlog.FVPCID: "vpc-abcdefab012345678", flowlog.FSubnetID: "subnet-11111111aaaaaaaaa", flowlog.FSrcAddr: "10.40.1.175",
				flowlog.FDstAddr: "10.40.2.236", flowlog.FSrcPort: "39812", flowlog.FDstPort: "80", flowlog.FProtocol: "6", flowlog.FTCPFlags: "3",
				flowlog.FType: "IPv4", flowlog.FPktSrcAddr: "10.20.33.164", flowlog.FPktDstAddr: "10.40.2.236", flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "v4 region and az-id (constructed in the documented field order)", format: fmtV4,
			line: "4 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.24 10.0.2.19 44556 5432 6 12 3400 1620140661 1620140721 ACCEPT OK vpc-0a1b2c3d4e5f60718 subnet-0a1b2c3d4e5f60718 i-0a1b2c3d4e5f60718 19 IPv4 10.0.1.24 10.0.2.19 eu-west-1 euw1-az2 wavelength wlid-1",
			want: want{flowlog.FVersion: "4", flowlog.FAccountID: "123456789012", flowlog.FInterfaceID: "eni-0a1b2c3d4e5f60718",
				flowlog.FSrcAddr: "10.0.1.24", flowlog.FDstAddr: "10.0.2.19", flowlog.FSrcPort: "44556", flowlog.FDstPort: "5432", flowlog.FProtocol: "6",
				flowlog.FPackets: "12", flowlog.FBytes: "3400", flowlog.FStart: "1620140661", flowlog.FEnd: "1620140721", flowlog.FAction: "ACCEPT",
				flowlog.FLogStatus: "OK", flowlog.FVPCID: "vpc-0a1b2c3d4e5f60718", flowlog.FSubnetID: "subnet-0a1b2c3d4e5f60718",
				flowlog.FInstanceID: "i-0a1b2c3d4e5f60718", flowlog.FTCPFlags: "19", flowlog.FType: "IPv4", flowlog.FPktSrcAddr: "10.0.1.24",
				flowlog.FPktDstAddr: "10.0.2.19", flowlog.FRegion: "eu-west-1", flowlog.FAZID: "euw1-az2", flowlog.FSublocationType: "wavelength",
				flowlog.FSublocationID: "wlid-1"},
		},
		{
			name: "v5 service name ingress from S3", format: fmtV5,
			line: "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
			want: want{flowlog.FVersion: "5", flowlog.FSrcAddr: "52.95.128.179", flowlog.FDstAddr: "10.0.0.71", flowlog.FSrcPort: "80", flowlog.FDstPort: "34210",
				flowlog.FProtocol: "6", flowlog.FStart: "1616729292", flowlog.FEnd: "1616729349", flowlog.FType: "IPv4", flowlog.FPackets: "14", flowlog.FBytes: "15044",
				flowlog.FAccountID: "123456789012", flowlog.FVPCID: "vpc-abcdefab012345678", flowlog.FSubnetID: "subnet-aaaaaaaa012345678",
				flowlog.FInstanceID: "i-0c50d5961bcb2d47b", flowlog.FInterfaceID: "eni-1235b8ca123456789", flowlog.FRegion: "ap-southeast-2", flowlog.FAZID: "apse2-az3",
				flowlog.FAction: "ACCEPT", flowlog.FTCPFlags: "19", flowlog.FPktSrcAddr: "52.95.128.179", flowlog.FPktDstAddr: "10.0.0.71",
				flowlog.FPktSrcAWSService: "S3", flowlog.FFlowDirection: "ingress", flowlog.FLogStatus: "OK"},
		},
		{
			name: "v5 service name egress to S3 with traffic path", format: fmtV5,
			line: "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
			want: want{flowlog.FVersion: "5", flowlog.FSrcAddr: "10.0.0.71", flowlog.FDstAddr: "52.95.128.179", flowlog.FSrcPort: "34210", flowlog.FDstPort: "80",
				flowlog.FProtocol: "6", flowlog.FStart: "1616729292", flowlog.FEnd: "1616729349", flowlog.FType: "IPv4", flowlog.FPackets: "7", flowlog.FBytes: "471",
				flowlog.FAccountID: "123456789012", flowlog.FVPCID: "vpc-abcdefab012345678", flowlog.FSubnetID: "subnet-aaaaaaaa012345678",
				flowlog.FInstanceID: "i-0c50d5961bcb2d47b", flowlog.FInterfaceID: "eni-1235b8ca123456789", flowlog.FRegion: "ap-southeast-2", flowlog.FAZID: "apse2-az3",
				flowlog.FAction: "ACCEPT", flowlog.FTCPFlags: "3", flowlog.FPktSrcAddr: "10.0.0.71", flowlog.FPktDstAddr: "52.95.128.179",
				flowlog.FPktDstAWSService: "S3", flowlog.FTrafficPath: "8", flowlog.FFlowDirection: "egress", flowlog.FLogStatus: "OK"},
		},
		{
			name: "v7 ECS fields (constructed)", format: fmtV7,
			line: "7 eni-0c6b4f1b8e2a3d4c5 10.0.3.17 10.0.1.9 49152 443 6 ACCEPT OK arn:aws:ecs:us-east-1:123456789012:cluster/prod prod arn:aws:ecs:us-east-1:123456789012:container-instance/prod/1a2b3c4d 1a2b3c4d 3f2a1b0c9d8e7f6a - web arn:aws:ecs:us-east-1:123456789012:task-definition/web:42 arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d3c 0f1e2d3c",
			want: want{flowlog.FVersion: "7", flowlog.FInterfaceID: "eni-0c6b4f1b8e2a3d4c5", flowlog.FSrcAddr: "10.0.3.17", flowlog.FDstAddr: "10.0.1.9",
				flowlog.FSrcPort: "49152", flowlog.FDstPort: "443", flowlog.FProtocol: "6", flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK",
				flowlog.FECSClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/prod", flowlog.FECSClusterName: "prod",
				flowlog.FECSContainerInstanceARN: "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/1a2b3c4d",
				flowlog.FECSContainerInstanceID:  "1a2b3c4d", flowlog.FECSContainerID: "3f2a1b0c9d8e7f6a", flowlog.FECSServiceName: "web",
				flowlog.FECSTaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42",
				flowlog.FECSTaskARN:           "arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d3c", flowlog.FECSTaskID: "0f1e2d3c"},
		},
		{
			name: "v8 reject reason (constructed)", format: fmtV8,
			line: "8 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.7 10.0.1.24 51515 22 6 1 60 1700000000 1700000060 REJECT OK BPA",
			want: want{flowlog.FVersion: "8", flowlog.FAccountID: "123456789012", flowlog.FInterfaceID: "eni-0a1b2c3d4e5f60718",
				flowlog.FSrcAddr: "198.51.100.7", flowlog.FDstAddr: "10.0.1.24", flowlog.FSrcPort: "51515", flowlog.FDstPort: "22", flowlog.FProtocol: "6",
				flowlog.FPackets: "1", flowlog.FBytes: "60", flowlog.FStart: "1700000000", flowlog.FEnd: "1700000060", flowlog.FAction: "REJECT",
				flowlog.FLogStatus: "OK", flowlog.FRejectReason: "BPA"},
		},
		{
			name: "transit gateway flow log, every field (constructed)", format: fmtTGW,
			line: "6 TransitGateway 123456789010 tgw-0a1b2c3d4e5f60718 tgw-attach-0a1b2c3d4e5f60718 123456789010 210987654321 vpc-0a1b2c3d4e5f60718 vpc-0f1e2d3c4b5a69788 subnet-0a1b2c3d4e5f60718 subnet-0f1e2d3c4b5a69788 eni-0a1b2c3d4e5f60718 eni-0f1e2d3c4b5a69788 use1-az1 use1-az2 tgw-attach-0f1e2d3c4b5a69788 10.0.1.24 10.1.2.19 44556 443 6 12 3400 1620140661 1620140721 OK IPv4 0 0 0 0 19 us-east-1 egress - -",
			want: want{flowlog.FVersion: "6", flowlog.FResourceType: "TransitGateway", flowlog.FAccountID: "123456789010",
				flowlog.FTGWID: "tgw-0a1b2c3d4e5f60718", flowlog.FTGWAttachmentID: "tgw-attach-0a1b2c3d4e5f60718",
				flowlog.FTGWSrcVPCAccountID: "123456789010", flowlog.FTGWDstVPCAccountID: "210987654321",
				flowlog.FTGWSrcVPCID: "vpc-0a1b2c3d4e5f60718", flowlog.FTGWDstVPCID: "vpc-0f1e2d3c4b5a69788",
				flowlog.FTGWSrcSubnetID: "subnet-0a1b2c3d4e5f60718", flowlog.FTGWDstSubnetID: "subnet-0f1e2d3c4b5a69788",
				flowlog.FTGWSrcENI: "eni-0a1b2c3d4e5f60718", flowlog.FTGWDstENI: "eni-0f1e2d3c4b5a69788",
				flowlog.FTGWSrcAZID: "use1-az1", flowlog.FTGWDstAZID: "use1-az2", flowlog.FTGWPairAttachmentID: "tgw-attach-0f1e2d3c4b5a69788",
				flowlog.FSrcAddr: "10.0.1.24", flowlog.FDstAddr: "10.1.2.19", flowlog.FSrcPort: "44556", flowlog.FDstPort: "443", flowlog.FProtocol: "6",
				flowlog.FPackets: "12", flowlog.FBytes: "3400", flowlog.FStart: "1620140661", flowlog.FEnd: "1620140721", flowlog.FLogStatus: "OK",
				flowlog.FType: "IPv4", flowlog.FPacketsLostNoRoute: "0", flowlog.FPacketsLostBlackhole: "0", flowlog.FPacketsLostMTUExceeded: "0",
				flowlog.FPacketsLostTTLExpired: "0", flowlog.FTCPFlags: "19", flowlog.FRegion: "us-east-1", flowlog.FFlowDirection: "egress"},
		},
		{
			name: "transit gateway packets lost", format: "${version} ${tgw-id} ${srcaddr} ${dstaddr} ${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} ${packets-lost-ttl-expired} ${log-status}",
			line: "6 tgw-0a1b2c3d4e5f60718 10.0.1.24 192.168.7.1 5 6 7 18446744073709551615 OK",
			want: want{flowlog.FVersion: "6", flowlog.FTGWID: "tgw-0a1b2c3d4e5f60718", flowlog.FSrcAddr: "10.0.1.24", flowlog.FDstAddr: "192.168.7.1",
				flowlog.FPacketsLostNoRoute: "5", flowlog.FPacketsLostBlackhole: "6", flowlog.FPacketsLostMTUExceeded: "7",
				flowlog.FPacketsLostTTLExpired: "18446744073709551615", flowlog.FLogStatus: "OK"},
		},
		{
			name: "runs of spaces, surrounding spaces and CR", format: "default",
			line: "  2  123456789010 eni-1235b8ca123456789   172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK   \r",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1235b8ca123456789",
				flowlog.FSrcAddr: "172.31.16.139", flowlog.FDstAddr: "172.31.16.21", flowlog.FSrcPort: "20641", flowlog.FDstPort: "22",
				flowlog.FProtocol: "6", flowlog.FPackets: "20", flowlog.FBytes: "4249", flowlog.FStart: "1418530010", flowlog.FEnd: "1418530070",
				flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
		{
			name: "IPv4-mapped IPv6 and compressed IPv6", format: "default",
			line: "2 123456789010 eni-1 ::ffff:10.0.0.1 :: 65535 0 58 18446744073709551615 0 0 9223372036854775807 ACCEPT OK",
			want: want{flowlog.FVersion: "2", flowlog.FAccountID: "123456789010", flowlog.FInterfaceID: "eni-1",
				flowlog.FSrcAddr: "::ffff:10.0.0.1", flowlog.FDstAddr: "::", flowlog.FSrcPort: "65535", flowlog.FDstPort: "0",
				flowlog.FProtocol: "58", flowlog.FPackets: "18446744073709551615", flowlog.FBytes: "0", flowlog.FStart: "0", flowlog.FEnd: "9223372036854775807",
				flowlog.FAction: "ACCEPT", flowlog.FLogStatus: "OK"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFormat(t, tc.format)
			r, err := parseLine(t, f, tc.line)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			check(t, f, r, tc.want)
			// The typed fields hold the same values as the text.
			if v, ok := r.Int(flowlog.FDstPort); ok && int64(r.DstPort) != v {
				t.Errorf("DstPort %d != Int %d", r.DstPort, v)
			}
			// Round trip through Append.
			line := f.Append(nil, r)
			r2, err := parseLine(t, f, string(line))
			if err != nil {
				t.Fatalf("re-parse of %q: %v", line, err)
			}
			if d := diffRecords(f, r, r2); d != "" {
				t.Errorf("round trip: %s", d)
			}
		})
	}
}

func TestParseTypedValues(t *testing.T) {
	r, err := parseLine(t, Default(), "2 123456789010 eni-1235b8ca123456789 2001:db8::1 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || r.SrcPort != 20641 || r.DstPort != 22 || r.Protocol != 6 || r.Packets != 20 || r.Bytes != 4249 ||
		r.Start != 1418530010 || r.End != 1418530070 {
		t.Errorf("typed values wrong: %+v", r)
	}
	if r.SrcAddr != netip.MustParseAddr("2001:db8::1") || r.DstAddr != netip.MustParseAddr("172.31.16.21") {
		t.Errorf("addresses: %v %v", r.SrcAddr, r.DstAddr)
	}
	if r.PktSrcAddr.IsValid() || r.Has(flowlog.FPktSrcAddr) {
		t.Errorf("pkt-srcaddr set though not in the format")
	}
}

func TestParseErrors(t *testing.T) {
	const ok = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	sub := func(field int, v string) string {
		toks := strings.Fields(ok)
		toks[field] = v
		return strings.Join(toks, " ")
	}
	for _, tc := range []struct {
		name, format, line string
		sentinel           error
		wantMsg            string
	}{
		{"too few fields", "default", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 22 6 20 4249 1418530010 1418530070 ACCEPT", ErrFieldCount, "wrong field count: 13 fields, format has 14"},
		{"too many fields", "default", ok + " extra", ErrFieldCount, "wrong field count: 15 fields, format has 14"},
		{"empty", "default", "   \r", ErrEmpty, "empty line"},
		{"dstport out of range", "default", sub(6, "70000"), ErrRange, "dstport: 70000 out of range"},
		{"srcport out of range", "default", sub(5, "65536"), ErrRange, "srcport: 65536 out of range"},
		{"protocol out of range", "default", sub(7, "256"), ErrRange, "protocol: 256 out of range"},
		{"version out of range", "default", sub(0, "300"), ErrRange, "version: 300 out of range"},
		{"negative packets", "default", sub(8, "-5"), ErrNegative, "packets: -5 negative value"},
		{"overflowing bytes", "default", sub(9, "18446744073709551616"), ErrRange, "bytes: 18446744073709551616 out of range"},
		{"overflowing start", "default", sub(10, "9223372036854775808"), ErrRange, "start: 9223372036854775808 out of range"},
		{"huge counter", "default", sub(8, strings.Repeat("9", 40)), ErrRange, "packets: " + strings.Repeat("9", 40) + " out of range"},
		{"not a number", "default", sub(8, "12a"), ErrSyntax, "packets: 12a not a decimal integer"},
		{"plus sign", "default", sub(6, "+22"), ErrSyntax, "dstport: +22 not a decimal integer"},
		{"lone minus sign in number is absence, double is not", "default", sub(6, "--"), ErrSyntax, "dstport: -- not a decimal integer"},
		{"bad IPv4", "default", sub(3, "10.0.0.256"), ErrAddress, "srcaddr: 10.0.0.256 bad address"},
		{"short IPv4", "default", sub(4, "10.0.0"), ErrAddress, "dstaddr: 10.0.0 bad address"},
		{"leading zero IPv4", "default", sub(4, "10.0.0.01"), ErrAddress, "dstaddr: 10.0.0.01 bad address"},
		{"bad IPv6", "default", sub(3, "2001:db8:::1"), ErrAddress, "srcaddr: 2001:db8:::1 bad address"},
		{"IPv6 zone", "default", sub(3, "fe80::1%eth0"), ErrAddress, "srcaddr: fe80::1%eth0 bad address"},
		{"hostname", "default", sub(3, "example.com"), ErrAddress, "srcaddr: example.com bad address"},
		{"NUL byte", "default", sub(12, "ACC\x00EPT"), ErrControl, "action: control character (NUL byte) at byte"},
		{"tab inside", "default", sub(12, "ACC\tEPT"), ErrControl, "action: control character (0x9) at byte"},
		{"bad pkt-srcaddr", "${pkt-srcaddr} ${pkt-dstaddr}", "10.0.0.1 nope", ErrAddress, "pkt-dstaddr: nope bad address"},
		{"tcp-flags", "${tcp-flags}", "65536", ErrRange, "tcp-flags: 65536 out of range"},
		{"traffic-path", "${traffic-path}", "256", ErrRange, "traffic-path: 256 out of range"},
		{"packets-lost negative", "${packets-lost-blackhole}", "-1", ErrNegative, "packets-lost-blackhole: -1 negative value"},
		{"line too long", "default", ok + strings.Repeat(" ", flowlog.MaxLineLen), ErrTooLong, "line too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFormat(t, tc.format)
			r, err := parseLine(t, f, tc.line)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error", tc.line)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ParseError", err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if r.Present != 0 {
				t.Errorf("record has fields %b after an error", r.Present)
			}
		})
	}
}

func TestParseJunk(t *testing.T) {
	junk := make([]byte, 1<<20)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	r := &flowlog.Record{Raw: junk}
	err := Default().Parse(r)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("1 MB junk: got %v, want ErrTooLong", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error message too long: %d bytes", len(err.Error()))
	}
	long := &ParseError{Field: "srcaddr", Err: &valueError{value: showValue(junk[:5000]), err: ErrAddress}}
	if len(long.Error()) > 400 {
		t.Errorf("value not truncated in message: %d bytes", len(long.Error()))
	}
}

func TestParseErrorMessage(t *testing.T) {
	e := &ParseError{Input: "s3://b/k.log.gz", Line: 7, Field: "dstport", Err: &valueError{value: "70000", err: ErrRange}}
	if got, want := e.Error(), "s3://b/k.log.gz: line 7: dstport: 70000 out of range"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.Reason() != "range" {
		t.Errorf("Reason() = %q", e.Reason())
	}
}

func TestCompile(t *testing.T) {
	f := mustFormat(t, "default")
	if len(f.Fields()) != 14 || f.Fields()[3] != flowlog.FSrcAddr || f.String() != "default" {
		t.Errorf("default format: %v %q", f.Fields(), f)
	}
	f = mustFormat(t, " ${version}  ${vpc-id} ${srcaddr}\t${reject-reason} ")
	if got := f.Fields(); len(got) != 4 || got[1] != flowlog.FVPCID || got[3] != flowlog.FRejectReason {
		t.Errorf("fields = %v", got)
	}
	if f.String() != "${version} ${vpc-id} ${srcaddr} ${reject-reason}" {
		t.Errorf("String() = %q", f)
	}
	if f.Header() != "version vpc-id srcaddr reject-reason" {
		t.Errorf("Header() = %q", f.Header())
	}
	for _, tc := range []struct{ spec, want string }{
		{"${version} ${nosuch}", `unknown field "nosuch"`},
		{"${version} ${version}", `field "version" repeated`},
		{"", "empty format"},
		{"${version", `malformed field "${version"`},
		{"${ver}sion", `malformed field`},
	} {
		if _, err := Compile(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
	// Every known field compiles, in one format.
	var all []string
	for fl := range flowlog.NumFields {
		all = append(all, "${"+fl.String()+"}")
	}
	if f := mustFormat(t, strings.Join(all, " ")); len(f.Fields()) != int(flowlog.NumFields) {
		t.Errorf("all fields: %d", len(f.Fields()))
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", true},
		{"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status\r", true},
		{"  srcaddr dstaddr  ", true},
		{"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 22 6 20 4249 1418530010 1418530070 ACCEPT OK", false},
		{"version account-id nosuch", false},
		{"eni-1235b8ca123456789 10.0.1.5", false},
		{"", false},
		{"   ", false},
	} {
		if got := IsHeader([]byte(tc.line)); got != tc.want {
			t.Errorf("IsHeader(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
	f, err := ParseHeader([]byte("version srcaddr dstaddr action\r"))
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "${version} ${srcaddr} ${dstaddr} ${action}" {
		t.Errorf("ParseHeader: %q", f)
	}
	if _, err := ParseHeader([]byte("2 1 2")); err == nil {
		t.Error("ParseHeader of a data line succeeded")
	}
}

func TestParseReusesRecord(t *testing.T) {
	f := Default()
	r := &flowlog.Record{Raw: []byte("2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 22 6 20 4249 1418530010 1418530070 ACCEPT OK")}
	if err := f.Parse(r); err != nil {
		t.Fatal(err)
	}
	r.Raw = []byte("2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA")
	if err := f.Parse(r); err != nil {
		t.Fatal(err)
	}
	if r.Has(flowlog.FSrcAddr) || r.SrcAddr.IsValid() || r.DstPort != 0 || r.Packets != 0 {
		t.Errorf("stale values after re-parse: %+v", r)
	}
}

func TestParseAllocs(t *testing.T) {
	f := Default()
	lines := []string{
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
		"2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
	}
	for _, l := range lines {
		r := &flowlog.Record{Raw: []byte(l)}
		if n := testing.AllocsPerRun(100, func() { _ = f.Parse(r) }); n != 0 {
			t.Errorf("Parse(%q) allocates %v times", l, n)
		}
	}
}

// diffRecords describes how two parsed records differ in the fields of f.
func diffRecords(f *Format, a, b *flowlog.Record) string {
	if a.Present != b.Present {
		return "present " + strings.Join([]string{bitString(a.Present), bitString(b.Present)}, " != ")
	}
	for _, fl := range f.Fields() {
		switch fl.Kind() {
		case flowlog.KindInt:
			x, _ := a.Int(fl)
			y, _ := b.Int(fl)
			if x != y || uintValue(a, fl) != uintValue(b, fl) {
				return fl.String() + " differs"
			}
		case flowlog.KindAddr:
			x, _ := a.Addr(fl)
			y, _ := b.Addr(fl)
			if x != y {
				return fl.String() + ": " + x.String() + " != " + y.String()
			}
		default:
			if string(a.Text(fl)) != string(b.Text(fl)) {
				return fl.String() + ": " + string(a.Text(fl)) + " != " + string(b.Text(fl))
			}
		}
	}
	return ""
}

func bitString(s flowlog.FieldSet) string {
	var b []byte
	for fl := range flowlog.NumFields {
		if s.Has(fl) {
			b = append(b, fl.String()...)
			b = append(b, ',')
		}
	}
	return string(b)
}

// FuzzScanIPv4 checks the hand-written IPv4 scanner against netip.
func FuzzScanIPv4(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "255.255.255.255", "0.0.0.0", "01.2.3.4", "1.2.3.256", "1.2.3", "1.2.3.4.5",
		"1..2.3", "1.2.3.4 x", "10.0.0.1000", "::1", "", "1.2.3.04", "100.200.30.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := []byte(s)
		end := bytes.IndexByte(tok, ' ')
		if end < 0 {
			end = len(tok)
		}
		a, e, ok := scanIPv4(tok, 0)
		want, err := netip.ParseAddr(s[:end])
		wantOK := err == nil && want.Is4()
		if ok != wantOK {
			t.Fatalf("scanIPv4(%q) ok=%v, netip says %v (%v)", s, ok, wantOK, err)
		}
		if ok && (a != want || e != end) {
			t.Fatalf("scanIPv4(%q) = %v end %d, want %v end %d", s, a, e, want, end)
		}
	})
}

func TestDigitsLongMatchesDigits(t *testing.T) {
	for _, in := range []string{
		"1418530010 ", "1418530010", "14185300", "1418530", "12345678901234567890123 ", "99999999x", "0000000012 ",
		"1234567a9", "", "-", "18446744073709551615 ", "123456789012345678901234567890",
	} {
		for start := 0; start <= min(2, len(in)); start++ {
			v1, e1 := digits([]byte(in), start)
			v2, e2 := digitsLong([]byte(in), start)
			if v1 != v2 || e1 != e2 {
				t.Errorf("%q@%d: digits = %d,%d; digitsLong = %d,%d", in, start, v1, e1, v2, e2)
			}
		}
	}
}
