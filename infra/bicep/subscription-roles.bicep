// Subscription-scope role for Safelist's identity: Security Reader, to read Defender for
// Containers vulnerability findings through Azure Resource Graph.
targetScope = 'subscription'

param principalId string

var securityReader = '39bc4728-0917-49c7-9d2c-d95423bc2eb4'

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, securityReader)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', securityReader)
  }
}
