// Package docs holds the project's reference documents; it embeds the
// OpenAPI description so amdgw serves exactly the file that is tested.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, served by amdgw at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
