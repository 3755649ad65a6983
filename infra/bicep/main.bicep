// Safelist on Azure: storage account (blobs + audit anchors), PostgreSQL flexible server,
// a user-assigned managed identity with only the roles it needs, Container Apps running three
// stateless replicas, and the ACR webhook that calls the container gate with its secret header.
// Deploy: az deployment group create -g <rg> -f infra/bicep/main.bicep -p solutionRegistryName=<acr> webhookSecret=<secret> postgresAdminPassword=<pw>
targetScope = 'resourceGroup'

@description('Prefix for every resource name (lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'safelist'

param location string = resourceGroup().location

@description('The solution container registry the gate protects (existing, in this resource group).')
param solutionRegistryName string

@description('Shared secret the ACR webhook sends in a custom header; the gate compares it in constant time.')
@secure()
param webhookSecret string

@description('PostgreSQL administrator password (prefer Entra authentication once deployed).')
@secure()
param postgresAdminPassword string

param image string = '${solutionRegistryName}.azurecr.io/safelist:1.0.0'
param minReplicas int = 3
param maxReplicas int = 10

var suffix = uniqueString(resourceGroup().id)
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrDelete: 'c2f4ef07-c644-48eb-af81-4b1b4947fb11'
  // Disabling reads on a failing manifest (block before purge) writes registry metadata.
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: '${namePrefix}${suffix}'
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // managed identity only
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled' // put a private endpoint in front for managed networks
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 14 }
    isVersioningEnabled: true // version-level immutability below needs versioning
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'safelist'
  properties: { publicAccess: 'None' }
}

// The audit anchors (audit/anchors.jsonl, an append blob) in a container whose blobs cannot be
// deleted or overwritten for seven years: rewriting the audit table is then detectable.
resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'safelist-audit'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: { enabled: true }
  }
}

resource auditImmutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: auditContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: 2555
    allowProtectedAppendWrites: true // anchors are appended, never rewritten
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2023-12-01-preview' = {
  name: '${namePrefix}-pg-${suffix}'
  location: location
  sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }
  properties: {
    version: '16'
    administratorLogin: 'safelistadmin'
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 64 }
    highAvailability: { mode: 'ZoneRedundant' }
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Disabled' }
    authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Enabled' }
  }
}

resource postgresDb 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2023-12-01-preview' = {
  parent: postgres
  name: 'safelist'
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: solutionRegistryName
}

resource blobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

resource acrRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in [roles.acrPull, roles.acrDelete, roles.acrPush]: {
  name: guid(registry.id, identity.id, r)
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)
  }
}]

// Security Reader on the subscription, for Defender for Containers findings (Resource Graph).
module securityReader 'subscription-roles.bicep' = {
  name: 'safelist-security-reader'
  scope: subscription()
  params: { principalId: identity.properties.principalId }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 90 }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: { customerId: logs.properties.customerId, sharedKey: logs.listKeys().primarySharedKey }
    }
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: namePrefix
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      registries: [ { server: '${solutionRegistryName}.azurecr.io', identity: identity.id } ]
      secrets: [
        { name: 'database-url', value: 'postgres://safelistadmin:${postgresAdminPassword}@${postgres.properties.fullyQualifiedDomainName}:5432/safelist?sslmode=require' }
        { name: 'webhook-secret', value: webhookSecret }
      ]
    }
    template: {
      containers: [
        {
          name: 'safelist'
          image: image
          args: [ 'serve' ]
          resources: { cpu: json('1.0'), memory: '2Gi' }
          env: [
            { name: 'DATABASE_URL', secretRef: 'database-url' }
            { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
            { name: 'SAFELIST_STORAGE__KIND', value: 'azure' }
            { name: 'SAFELIST_STORAGE__AZURE__ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
            { name: 'SAFELIST_STORAGE__AZURE__CONTAINER', value: 'safelist' }
            // The audit anchors go to the immutable container above, not the main one.
            { name: 'SAFELIST_AUDIT__ANCHOR_STORAGE__KIND', value: 'azure' }
            { name: 'SAFELIST_AUDIT__ANCHOR_STORAGE__AZURE__ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
            { name: 'SAFELIST_AUDIT__ANCHOR_STORAGE__AZURE__CONTAINER', value: auditContainer.name }
            { name: 'SAFELIST_GATE__ACR_WEBHOOK__SECRET', secretRef: 'webhook-secret' }
          ]
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 20 }
            { type: 'Readiness', httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 10, timeoutSeconds: 5 }
            { type: 'Startup', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 2, failureThreshold: 60 }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [ { name: 'http', http: { metadata: { concurrentRequests: '200' } } } ]
      }
    }
  }
}

// ACR sends each push once, with a 5 s timeout and no retry: the gate acknowledges at once and
// reconciles on a schedule. ACR webhooks carry no signature, only this custom header.
resource webhook 'Microsoft.ContainerRegistry/registries/webhooks@2023-07-01' = {
  parent: registry
  name: '${namePrefix}gate'
  location: location
  properties: {
    serviceUri: 'https://${app.properties.configuration.ingress.fqdn}/api/v1/gate/webhooks/acr'
    customHeaders: { 'X-Safelist-Webhook-Secret': webhookSecret }
    actions: [ 'push', 'delete' ]
    status: 'enabled'
    scope: ''
  }
}

output appFqdn string = app.properties.configuration.ingress.fqdn
output identityClientId string = identity.properties.clientId
output storageBlobEndpoint string = storage.properties.primaryEndpoints.blob
