/**
 * The GraphQL schema flyctl's commands query (see ../../../../shared/research or
 * README "The real fly CLI"): a hand-written subset of Fly's, with Fly's type and
 * field names so that every operation fly-go and flyctl send validates. Scalars
 * are encoded as Fly encodes them: BigInt as a JSON string, ISO8601DateTime as
 * RFC 3339, JSON as a raw value.
 */
export const SCHEMA_SDL = /* GraphQL */ `
scalar BigInt
scalar ISO8601DateTime
scalar JSON

enum OrganizationType { PERSONAL SHARED }
enum PlatformVersionEnum { machines nomad detached }

type Queries {
  viewer: Principal!
  organizations(admin: Boolean, first: Int, after: String, type: OrganizationType, withBillingIssuesOnly: Boolean): OrganizationConnection!
  organization(id: ID, name: String, slug: String): Organization
  apps(after: String, before: String, first: Int, last: Int, active: Boolean, organizationId: ID, role: String, platform: String, type: String): AppConnection!
  app(name: String, id: ID, internalId: String): App
  machine(machineId: String!): Machine!
  latestImageDetails(image: String!, flyVersion: String): ImageVersion!
}

schema { query: Queries }

interface Principal { id: ID email: String! name: String avatarUrl: String! }

type User implements Principal { id: ID! email: String! name: String avatarUrl: String! enablePaidHobby: Boolean! }

type Macaroon implements Principal { id: ID email: String! name: String avatarUrl: String! }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }

type Organization {
  id: ID!
  internalNumericId: BigInt!
  slug: String!
  rawSlug: String!
  name: String!
  type: OrganizationType!
  paidPlan: Boolean!
  billable: Boolean!
  viewerRole: String!
}

type OrganizationConnection { nodes: [Organization!]! totalCount: Int! pageInfo: PageInfo! }

interface AppRole { name: String! }
type EmptyAppRole implements AppRole { name: String! }

type App {
  id: ID!
  internalNumericId: Int!
  name: String!
  hostname: String
  cnameTarget: String
  appUrl: String
  deployed: Boolean!
  network: String
  status: String!
  platformVersion: PlatformVersionEnum
  organization: Organization!
  role: AppRole
  currentRelease: Release
  currentReleaseUnprocessed: ReleaseUnprocessed
  releasesUnprocessed(first: Int, after: String, status: String): ReleaseUnprocessedConnection!
  image(ref: String!): Image
  egressIpAddresses: EgressIPAddressConnection!
  hostIssues: IssueConnection
  version: Int!
  config: AppConfig!
  services: [Service!]!
  ipAddresses: IPAddressConnection!
  sharedIpAddress: String
  imageDetails: ImageVersion
  machines: MachineConnection!
}

type AppConfig { definition: JSON! }
type Service { description: String! protocol: String! internalPort: Int! ports: [ServicePort!]! }
type ServicePort { port: Int handlers: [String!]! }
type IPAddress { id: ID! address: String! type: String! region: String createdAt: ISO8601DateTime! }
type IPAddressConnection { nodes: [IPAddress!]! totalCount: Int! }

type AppConnection { nodes: [App!]! totalCount: Int! pageInfo: PageInfo! }

type Release {
  id: ID!
  version: Int!
  status: String!
  description: String!
  reason: String!
  stable: Boolean!
  inProgress: Boolean!
  evaluationId: String
  createdAt: ISO8601DateTime!
  imageRef: String
  user: User
}

type ReleaseUnprocessed {
  id: ID!
  version: Int!
  status: String!
  description: String!
  reason: String!
  stable: Boolean!
  imageRef: String
  configDefinition: JSON
  createdAt: ISO8601DateTime!
  user: User
}

type ReleaseUnprocessedConnection { nodes: [ReleaseUnprocessed!]! totalCount: Int! pageInfo: PageInfo! }

type Image { id: ID! ref: String! digest: String compressedSize: Int! compressedSizeFull: BigInt! manifest: JSON }

type ImageVersion { registry: String! repository: String! tag: String! version: String digest: String! }

type Machine {
  id: String!
  name: String!
  state: String!
  region: String!
  config: JSON!
  createdAt: ISO8601DateTime!
  app: App!
  ips: MachineIPConnection!
  host: Host!
}
type MachineConnection { nodes: [Machine!]! totalCount: Int! }
type MachineIP { family: String! kind: String! ip: String! maskSize: Int! }
type MachineIPConnection { nodes: [MachineIP!]! }
type Host { id: ID! }

type EgressIPAddress { id: ID! ip: String! version: Int! region: String! updatedAt: ISO8601DateTime! }
type EgressIPAddressConnection { nodes: [EgressIPAddress!]! totalCount: Int! }

type Issue { internalId: String! message: String createdAt: ISO8601DateTime! updatedAt: ISO8601DateTime! }
type IssueConnection { nodes: [Issue!]! totalCount: Int! }
`;
