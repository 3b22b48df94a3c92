package ec2stub

import (
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// The DescribeNetworkInterfaces answer, element for element as EC2 writes it.
type response struct {
	XMLName   xml.Name `xml:"DescribeNetworkInterfacesResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Set       struct {
		Items []niXML `xml:"item"`
	} `xml:"networkInterfaceSet"`
	NextToken string `xml:"nextToken,omitempty"`
}

type niXML struct {
	ID               string       `xml:"networkInterfaceId"`
	SubnetID         string       `xml:"subnetId"`
	VPCID            string       `xml:"vpcId"`
	AZ               string       `xml:"availabilityZone"`
	Description      string       `xml:"description"`
	OwnerID          string       `xml:"ownerId"`
	RequesterManaged bool         `xml:"requesterManaged"`
	Status           string       `xml:"status"`
	MAC              string       `xml:"macAddress"`
	PrivateIP        string       `xml:"privateIpAddress,omitempty"`
	PrivateDNS       string       `xml:"privateDnsName,omitempty"`
	SourceDestCheck  bool         `xml:"sourceDestCheck"`
	Groups           groupSet     `xml:"groupSet"`
	Attachment       *attachment  `xml:"attachment,omitempty"`
	Tags             tagSet       `xml:"tagSet"`
	PrivateIPs       privateIPSet `xml:"privateIpAddressesSet"`
	IPv6             ipv6Set      `xml:"ipv6AddressesSet"`
	InterfaceType    string       `xml:"interfaceType"`
}

type groupSet struct {
	Items []struct {
		ID   string `xml:"groupId"`
		Name string `xml:"groupName"`
	} `xml:"item"`
}

type attachment struct {
	ID                  string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId"`
	InstanceOwnerID     string `xml:"instanceOwnerId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type tagSet struct {
	Items []struct {
		Key   string `xml:"key"`
		Value string `xml:"value"`
	} `xml:"item"`
}

type privateIPSet struct {
	Items []struct {
		Address string `xml:"privateIpAddress"`
		DNS     string `xml:"privateDnsName"`
		Primary bool   `xml:"primary"`
	} `xml:"item"`
}

type ipv6Set struct {
	Items []struct {
		Address string `xml:"ipv6Address"`
	} `xml:"item"`
}

func dnsName(a, region string) string {
	d := "ip-" + strings.ReplaceAll(a, ".", "-")
	if region == "" || region == "us-east-1" {
		return d + ".ec2.internal"
	}
	return d + "." + region + ".compute.internal"
}

func toXML(e *flowlog.ENI) niXML {
	h := fnv.New64a()
	h.Write([]byte(e.InterfaceID))
	sum := h.Sum64()
	x := niXML{
		ID:              e.InterfaceID,
		SubnetID:        e.SubnetID,
		VPCID:           e.VPCID,
		AZ:              e.AvailabilityZone,
		OwnerID:         e.AccountID,
		Status:          "available",
		MAC:             fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24), byte(sum>>32)),
		SourceDestCheck: true,
		InterfaceType:   e.InterfaceType,
	}
	if x.InterfaceType == "" {
		x.InterfaceType = "interface"
	}
	primary := true
	for _, a := range e.Addresses {
		if a.Is4() {
			s := a.String()
			if primary {
				x.PrivateIP, x.PrivateDNS = s, dnsName(s, e.Region)
			}
			x.PrivateIPs.Items = append(x.PrivateIPs.Items, struct {
				Address string `xml:"privateIpAddress"`
				DNS     string `xml:"privateDnsName"`
				Primary bool   `xml:"primary"`
			}{s, dnsName(s, e.Region), primary})
			primary = false
			continue
		}
		x.IPv6.Items = append(x.IPv6.Items, struct {
			Address string `xml:"ipv6Address"`
		}{a.String()})
	}
	for _, g := range e.SecurityGroupIDs {
		x.Groups.Items = append(x.Groups.Items, struct {
			ID   string `xml:"groupId"`
			Name string `xml:"groupName"`
		}{g, "group-" + strings.TrimPrefix(g, "sg-")})
	}
	if e.InstanceID != "" {
		x.Status = "in-use"
		x.Attachment = &attachment{
			ID:                  "eni-attach-" + strings.TrimPrefix(e.InterfaceID, "eni-"),
			InstanceID:          e.InstanceID,
			InstanceOwnerID:     e.AccountID,
			Status:              "attached",
			AttachTime:          "2024-01-01T00:00:00.000Z",
			DeleteOnTermination: true,
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Tags)) {
		x.Tags.Items = append(x.Tags.Items, struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		}{k, e.Tags[k]})
	}
	return x
}
