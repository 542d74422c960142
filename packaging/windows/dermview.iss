; Inno Setup 6 script: Windows installer from the PyInstaller one-folder bundle.
; Build (in a Developer PowerShell, from the repository root, after the bundle is built):
;   py -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller packaging\dermview.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\dermview.iss
; Output: dist\dermview-<version>-windows-x86_64-setup.exe (per-user install, no admin rights).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{8C1E7A52-5D0B-4C7E-9F1A-6D2B3E4F5A61}
AppName=DermView
AppVersion={#AppVersion}
AppPublisher=dermview
DefaultDirName={autopf}\DermView
DefaultGroupName=DermView
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=dermview-{#AppVersion}-windows-x86_64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\dermview-gui.exe
LicenseFile=..\..\resources\samples\ATTRIBUTION.md

[Files]
Source: "..\..\dist\dermview\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\INSTALL.md"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\DermView"; Filename: "{app}\dermview-gui.exe"
Name: "{group}\DermView self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\dermview.exe"" self-test"
Name: "{autodesktop}\DermView"; Filename: "{app}\dermview-gui.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\dermview.exe"; Parameters: "self-test --no-gui"; StatusMsg: "Checking the installation..."; Flags: runhidden waituntilterminated
Filename: "{app}\dermview-gui.exe"; Description: "Start DermView"; Flags: nowait postinstall skipifsilent
