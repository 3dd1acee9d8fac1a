<#
.SYNOPSIS
    Collects what hvtriage reads from a Hyper-V failover cluster node: its event logs, its
    cluster log, and its network configuration.

.DESCRIPTION
    Run on each node (or once with -Cluster, which runs it on every node and copies the zips
    back). Each node gives one zip, HvTriage-<NODE>-<time>.zip, holding the folder <NODE>\ with:

      *.evtx                         the event logs below, for the last -Hours (wevtutil epl)
      cluster.log                    Get-ClusterLog for the same span, in UTC
      ipconfig.txt                   ipconfig /all
      Get-VMSwitch.json              the virtual switches: type, uplink NICs, shared with the host
      Get-VMNetworkAdapter-ManagementOS.json   the host's vEthernet adapters and their switches
      Get-VMNetworkAdapter-VMs.json  the VMs' adapters, switches and Protected Network setting
      Get-NetAdapter.json            the physical and virtual NICs and their state
      Get-NetLbfoTeamMember.json     LBFO team members (empty without teams)
      Get-NetRoute.json              the IPv4 routes with their metrics
      Get-NetIPInterface.json        each IPv4 interface's metric (added to its routes' own)
      Get-NetIPConfiguration.json    each adapter's addresses, gateways and IPv4 DNS servers
      Get-ClusterNetwork.json        the cluster networks: role and metric
      Get-ClusterNetworkInterface.json   each node's interface on each cluster network

    Why: the event logs show what happened; the configuration shows whether the NIC that lost
    its link was the uplink of a virtual switch shared with the host and the host's only path
    to its domain controller (hvtriage's shared-nic-only-dc-path).

    It needs nothing beyond Windows' own modules (Hyper-V, FailoverClusters, NetAdapter,
    NetTCPIP, NetLbfo). It collects no secrets: no credentials, no registry hives, no user data
    beyond what the event logs themselves hold.

.PARAMETER OutputPath
    Where the zips go (default: the current user's TEMP folder).

.PARAMETER Hours
    How far back the event logs and the cluster log reach (default 72).

.PARAMETER Cluster
    Collect from every node of the local cluster (PowerShell remoting), not only this one.

.EXAMPLE
    .\Collect-HvTriage.ps1 -Hours 24
    .\Collect-HvTriage.ps1 -Cluster -OutputPath D:\case-12345
#>
[CmdletBinding()]
param(
    [string]$OutputPath = $env:TEMP,
    [ValidateRange(1, 8760)][int]$Hours = 72,
    [switch]$Cluster
)

$ErrorActionPreference = 'Continue'

# The whole collection of one node, as one script block: it runs locally or on a node through
# Invoke-Command, and returns the zip's path on that node.
$collectNode = {
    param([int]$Hours, [string]$Root)

    $node = $env:COMPUTERNAME
    $stamp = (Get-Date).ToUniversalTime().ToString('yyyyMMdd-HHmmss')
    $work = Join-Path $Root "HvTriage-$node-$stamp"
    $dir = Join-Path $work $node
    New-Item -ItemType Directory -Path $dir -Force | Out-Null

    $logs = @(
        'System',
        'Application',
        'Microsoft-Windows-FailoverClustering/Operational',
        'Microsoft-Windows-Hyper-V-High-Availability-Admin',
        'Microsoft-Windows-Hyper-V-VMMS-Admin',
        'Microsoft-Windows-Hyper-V-VMMS-Operational',
        'Microsoft-Windows-Hyper-V-Worker-Admin',
        'Microsoft-Windows-Hyper-V-VmSwitch-Operational',
        'Microsoft-Windows-NetworkProfile/Operational'
    )
    $ms = [int64]$Hours * 3600 * 1000
    foreach ($log in $logs) {
        # A log the node does not have (no Hyper-V role, an older build) is skipped, not an error.
        & wevtutil.exe gl $log *> $null
        if ($LASTEXITCODE -ne 0) { continue }
        $file = Join-Path $dir (($log -replace '/', '-') + '.evtx')
        & wevtutil.exe epl $log $file "/q:*[System[TimeCreated[timediff(@SystemTime) <= $ms]]]" /ow:true
    }

    # ipconfig /all as text, UTF-8 (hvtriage also reads UTF-16 and code page 932).
    & ipconfig.exe /all | Out-File -FilePath (Join-Path $dir 'ipconfig.txt') -Encoding utf8

    # Each cmdlet's objects as JSON. A cmdlet that is missing or fails writes nothing.
    function Save-Json([string]$Name, [scriptblock]$Query) {
        try {
            $objects = @(& $Query)
            ConvertTo-Json -InputObject $objects -Depth 4 |
                Out-File -FilePath (Join-Path $dir "$Name.json") -Encoding utf8
        } catch {
            Write-Warning "$Name not collected on ${node}: $($_.Exception.Message)"
        }
    }
    Save-Json 'Get-VMSwitch' {
        Get-VMSwitch | Select-Object Name, SwitchType, AllowManagementOS,
            NetAdapterInterfaceDescription, NetAdapterInterfaceDescriptions, EmbeddedTeamingEnabled,
            @{ n = 'ComputerName'; e = { $node } }
    }
    Save-Json 'Get-VMNetworkAdapter-ManagementOS' {
        Get-VMNetworkAdapter -ManagementOS | Select-Object Name, SwitchName, IsManagementOs, MacAddress
    }
    Save-Json 'Get-VMNetworkAdapter-VMs' {
        Get-VMNetworkAdapter -VMName * | Select-Object VMName, Name, SwitchName, MacAddress, ClusterMonitored
    }
    Save-Json 'Get-NetAdapter' {
        Get-NetAdapter | Select-Object Name, InterfaceDescription, Status, MacAddress, ifIndex, LinkSpeed
    }
    Save-Json 'Get-NetLbfoTeamMember' {
        Get-NetLbfoTeamMember -ErrorAction SilentlyContinue |
            Select-Object Name, Team, AdministrativeMode, OperationalStatus
    }
    Save-Json 'Get-NetRoute' {
        Get-NetRoute -AddressFamily IPv4 |
            Select-Object DestinationPrefix, NextHop, RouteMetric, InterfaceMetric, ifIndex, InterfaceAlias
    }
    Save-Json 'Get-NetIPInterface' {
        Get-NetIPInterface -AddressFamily IPv4 |
            Select-Object InterfaceAlias, ifIndex, InterfaceMetric, AutomaticMetric, ConnectionState
    }
    Save-Json 'Get-NetIPConfiguration' {
        Get-NetIPConfiguration | ForEach-Object {
            [pscustomobject]@{
                InterfaceAlias     = $_.InterfaceAlias
                IPv4Address        = @($_.IPv4Address | ForEach-Object { $_.IPAddress })
                IPv4DefaultGateway = @($_.IPv4DefaultGateway | ForEach-Object { $_.NextHop })
                DNSServer          = @($_.DNSServer | Where-Object { $_.AddressFamily -eq 2 } |
                    ForEach-Object { $_.ServerAddresses })
                ComputerName       = $node
            }
        }
    }
    Save-Json 'Get-ClusterNetwork' {
        Get-ClusterNetwork | Select-Object Name, Role, Metric, Address, State
    }
    Save-Json 'Get-ClusterNetworkInterface' {
        Get-ClusterNetworkInterface -Node $node | Select-Object Name, Node, Network, Adapter, State
    }

    # The cluster log of this node, in UTC (no -UseLocalTime), for the same span.
    try {
        $log = Get-ClusterLog -Node $node -Destination $dir -TimeSpan ($Hours * 60) -ErrorAction Stop
        $log | ForEach-Object { Move-Item $_.FullName (Join-Path $dir 'cluster.log') -Force }
    } catch {
        Write-Warning "cluster.log not collected on ${node}: $($_.Exception.Message)"
    }

    $zip = "$work.zip"
    Compress-Archive -Path $dir -DestinationPath $zip -Force
    Remove-Item $work -Recurse -Force
    $zip
}

New-Item -ItemType Directory -Path $OutputPath -Force | Out-Null
if (-not $Cluster) {
    $zip = & $collectNode $Hours $OutputPath
    Write-Output "Collected: $zip"
    return
}

foreach ($name in (Get-ClusterNode).Name) {
    $session = New-PSSession -ComputerName $name
    try {
        $remote = Invoke-Command -Session $session -ScriptBlock $collectNode -ArgumentList $Hours, 'C:\Windows\Temp'
        Copy-Item -FromSession $session -Path $remote -Destination $OutputPath
        Invoke-Command -Session $session -ScriptBlock { param($p) Remove-Item $p -Force } -ArgumentList $remote
        Write-Output "Collected: $(Join-Path $OutputPath (Split-Path $remote -Leaf))"
    } finally {
        Remove-PSSession $session
    }
}
