<#
.SYNOPSIS
Installs uvmd on a Windows node as a service, or removes it (-Uninstall).

.DESCRIPTION
Copies uvmd.exe and the guest files (the utility VM's kernel, initrd and
uvmd-agent) to -InstallDir, the config to -DataDir (kept if one is there
already, unless -ReplaceConfig), registers the service with
`uvmd.exe --register-service` and starts it. Re-running it with the same
uvmd.exe only makes sure the service runs: it does not restart uvmd, since
stopping uvmd stops every pod's VM. A different uvmd.exe is an upgrade: the
service is stopped (gracefully, bounded), unregistered, replaced,
registered and started again.

-Uninstall stops and unregisters the service and removes -InstallDir;
-Purge also removes -DataDir (images, pod state, logs, config).

.EXAMPLE
.\install.ps1 -Source D:\uvmd-0.1.0
.\install.ps1 -Uninstall -Purge
#>
[CmdletBinding()]
param(
    # Folder with uvmd.exe, config.json and guest\.
    [string]$Source = $PSScriptRoot,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'uvmd'),
    [string]$DataDir = (Join-Path $env:ProgramData 'uvmd'),
    [ValidatePattern('^[A-Za-z0-9._-]{1,256}$')]
    [string]$ServiceName = 'uvmd',
    # Also log to the Application event log.
    [switch]$EventLog,
    [switch]$ReplaceConfig,
    [int]$StartTimeoutSeconds = 120,
    [switch]$Uninstall,
    [switch]$Purge
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Assert-Administrator {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $p = New-Object Security.Principal.WindowsPrincipal($id)
    if (-not $id.IsSystem -and -not $p.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw "install.ps1 must run as an administrator or as SYSTEM (a HostProcess pod)"
    }
}

function Get-UvmdService {
    Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
}

# uvmd.exe --unregister-service stops the service (bounded wait) first.
function Remove-UvmdService([string]$Exe) {
    if (-not (Get-UvmdService)) { return }
    if (Test-Path -LiteralPath $Exe) {
        & $Exe --unregister-service --service-name $ServiceName
        if ($LASTEXITCODE -ne 0) { throw "uvmd --unregister-service failed ($LASTEXITCODE)" }
    } else {
        # The binary is gone: fall back to the SCM's own tools.
        Stop-Service -Name $ServiceName -ErrorAction SilentlyContinue
        & sc.exe delete $ServiceName | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe delete $ServiceName failed ($LASTEXITCODE)" }
    }
    Write-Output "uvmd: service '$ServiceName' removed"
}

function Wait-Running {
    $svc = Get-UvmdService
    $svc.WaitForStatus('Running', [TimeSpan]::FromSeconds($StartTimeoutSeconds))
    Write-Output "uvmd: service '$ServiceName' is running"
}

function Test-SameFile([string]$A, [string]$B) {
    (Test-Path -LiteralPath $A) -and (Test-Path -LiteralPath $B) -and
        ((Get-FileHash -LiteralPath $A).Hash -eq (Get-FileHash -LiteralPath $B).Hash)
}

function Install-Files {
    foreach ($need in 'uvmd.exe', 'config.json', 'guest') {
        if (-not (Test-Path -LiteralPath (Join-Path $Source $need))) {
            throw "'$Source' has no $need"
        }
    }
    New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir | Out-Null
    Copy-Item -LiteralPath (Join-Path $Source 'uvmd.exe') -Destination $InstallDir -Force
    $guest = Join-Path $InstallDir 'guest'
    if (Test-Path -LiteralPath $guest) { Remove-Item -LiteralPath $guest -Recurse -Force }
    Copy-Item -LiteralPath (Join-Path $Source 'guest') -Destination $guest -Recurse
    $config = Join-Path $DataDir 'config.json'
    if ($ReplaceConfig -or -not (Test-Path -LiteralPath $config)) {
        Copy-Item -LiteralPath (Join-Path $Source 'config.json') -Destination $config -Force
    } else {
        Write-Output "uvmd: keeping the existing $config (-ReplaceConfig to overwrite it)"
    }
}

function Register-Uvmd {
    $exe = Join-Path $InstallDir 'uvmd.exe'
    $regArgs = @('--register-service', '--config', (Join-Path $DataDir 'config.json'),
              '--service-name', $ServiceName)
    if ($EventLog) { $regArgs += '--event-log' }
    & $exe @regArgs
    if ($LASTEXITCODE -ne 0) { throw "uvmd --register-service failed ($LASTEXITCODE)" }
    # Restart after a crash or a failed start (a service-specific exit code
    # counts too, with failureflag), backing off; the counter resets daily.
    & sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/15000/restart/60000 | Out-Null
    & sc.exe failureflag $ServiceName 1 | Out-Null
}

Assert-Administrator
$installed = Join-Path $InstallDir 'uvmd.exe'

if ($Uninstall) {
    Remove-UvmdService $installed
    if (Test-Path -LiteralPath $InstallDir) { Remove-Item -LiteralPath $InstallDir -Recurse -Force }
    if ($Purge -and (Test-Path -LiteralPath $DataDir)) {
        Remove-Item -LiteralPath $DataDir -Recurse -Force
    }
    Write-Output "uvmd: uninstalled"
    exit 0
}

if ((Get-UvmdService) -and (Test-SameFile (Join-Path $Source 'uvmd.exe') $installed) -and -not $ReplaceConfig) {
    # Same build already installed: never restart it (that would stop the pods).
    if ((Get-UvmdService).Status -ne 'Running') { Start-Service -Name $ServiceName }
    Wait-Running
    exit 0
}

Remove-UvmdService $installed
Install-Files
Register-Uvmd
Start-Service -Name $ServiceName
Wait-Running
