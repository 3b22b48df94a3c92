# openapi2jsonschema.jq turns a Kubernetes OpenAPI v2 document (swagger.json)
# into the strict JSON schemas kubeconform reads from a local
# -schema-location "DIR/{{.ResourceKind}}{{.KindSuffix}}.json":
#   - _definitions.json holds every definition;
#   - <kind>[-<group>]-<version>.json holds one kind, referring to the
#     definitions by "_definitions.json#/definitions/…";
#   - objects with properties accept no other keys (kubeconform -strict);
#   - int-or-string (intstr.IntOrString) accepts a string or an integer,
#     and resource.Quantity a string or a number, as the API server does.
# Output: one line per file, "NAME<TAB>JSON"; check-deploy.sh writes them.

def fix:
  if type != "object" then .
  else
    (if (.["$ref"] | type) == "string"
       then .["$ref"] |= sub("^#/definitions/"; "_definitions.json#/definitions/")
       else . end)
    | (if .format == "int-or-string"
       then del(.type, .format) + {oneOf: [{type: "string"}, {type: "integer"}]}
       else . end)
    | (if (.properties | type) == "object"
       then .properties |= map_values(fix)
            | (if has("additionalProperties") then . else . + {additionalProperties: false} end)
       else . end)
    | (if (.additionalProperties | type) == "object" then .additionalProperties |= fix else . end)
    | (if (.items | type) == "object" then .items |= fix else . end)
    | reduce ("allOf", "anyOf", "oneOf") as $k (.;
        if (.[$k] | type) == "array" then .[$k] |= map(fix) else . end)
  end;

.definitions
| with_entries(
    if .key == "io.k8s.apimachinery.pkg.api.resource.Quantity"
    then .value |= (del(.type, .format) + {oneOf: [{type: "string"}, {type: "number"}]})
    else . end
    | .value |= fix)
| . as $defs
| (["_definitions.json", {definitions: $defs}]),
  ( to_entries[]
    | .value as $s
    | ($s["x-kubernetes-group-version-kind"] // [])[]
    | [ ((.kind | ascii_downcase)
         + (if .group == "" then "" else "-" + (.group | split(".")[0] | ascii_downcase) end)
         + "-" + (.version | ascii_downcase) + ".json"),
        $s ] )
| "\(.[0])\t\(.[1] | tojson)"
