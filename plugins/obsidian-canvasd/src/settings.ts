import { App, Plugin, PluginSettingTab, Setting } from "obsidian";

/** What the user can set; empty strings and 0 mean "find it out". */
export interface CanvasdSettings {
	/** The daemon's Unix socket; empty: the discovery file, else the default socket. */
	socketPath: string;
	/** Talk over TCP to 127.0.0.1:PORT instead of the socket (0: use the socket). */
	tcpPort: number;
	/** The bearer token's file for TCP; empty: the one the discovery file names. */
	tokenFile: string;
	/** The daemon's name for this vault; empty: the Obsidian vault's name. */
	vaultName: string;
}

export const DEFAULT_SETTINGS: Readonly<CanvasdSettings> = {
	socketPath: "",
	tcpPort: 0,
	tokenFile: "",
	vaultName: "",
};

/** The defaults with whatever valid values `saved` (from `loadData()`) holds over them. */
export function mergeSettings(saved: unknown): CanvasdSettings {
	const merged: CanvasdSettings = { ...DEFAULT_SETTINGS };
	if (typeof saved !== "object" || saved === null) return merged;
	const raw = saved as Record<string, unknown>;
	if (typeof raw.socketPath === "string") merged.socketPath = raw.socketPath.trim();
	if (typeof raw.tokenFile === "string") merged.tokenFile = raw.tokenFile.trim();
	if (typeof raw.vaultName === "string") merged.vaultName = raw.vaultName.trim();
	const port = parsePort(raw.tcpPort);
	if (port !== null) merged.tcpPort = port;
	return merged;
}

/** A TCP port (0 for none), or null when `value` is not one. */
export function parsePort(value: unknown): number | null {
	const port = typeof value === "string" ? (value.trim() === "" ? 0 : Number(value)) : value;
	if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) return null;
	return port;
}

/** The vault name to send to the daemon. */
export function daemonVaultName(settings: CanvasdSettings, obsidianVaultName: string): string {
	return settings.vaultName !== "" ? settings.vaultName : obsidianVaultName;
}

/** A plugin that owns settings and reacts when they change. */
export interface SettingsHost extends Plugin {
	settings: CanvasdSettings;
	saveSettings(): Promise<void>;
}

export class CanvasdSettingTab extends PluginSettingTab {
	constructor(app: App, private readonly host: SettingsHost) {
		super(app, host);
	}

	display(): void {
		const { containerEl } = this;
		containerEl.empty();
		const settings = this.host.settings;

		new Setting(containerEl)
			.setName("Socket path")
			.setDesc("The socket the daemon listens on. Empty: the one its discovery file names, else the default socket.")
			.addText((text) => text
				.setPlaceholder("$XDG_RUNTIME_DIR/canvasd/canvasd.sock")
				.setValue(settings.socketPath)
				.onChange(async (value) => {
					settings.socketPath = value.trim();
					await this.host.saveSettings();
				}));

		new Setting(containerEl)
			.setName("TCP port")
			.setDesc("Talk to 127.0.0.1 on this port (the daemon's http.tcp_port) instead of the socket. Empty or 0: the socket.")
			.addText((text) => text
				.setPlaceholder("0")
				.setValue(settings.tcpPort === 0 ? "" : String(settings.tcpPort))
				.onChange(async (value) => {
					const port = parsePort(value.trim() === "" ? 0 : value);
					if (port === null) return;
					settings.tcpPort = port;
					await this.host.saveSettings();
				}));

		new Setting(containerEl)
			.setName("Token file")
			.setDesc("The file holding the bearer token for TCP (the daemon's http.token_file). Empty: the one its discovery file names.")
			.addText((text) => text
				.setValue(settings.tokenFile)
				.onChange(async (value) => {
					settings.tokenFile = value.trim();
					await this.host.saveSettings();
				}));

		new Setting(containerEl)
			.setName("Daemon vault name")
			.setDesc("This vault's name in the daemon's configuration. Empty: the name Obsidian shows for this vault.")
			.addText((text) => text
				.setPlaceholder(this.app.vault.getName())
				.setValue(settings.vaultName)
				.onChange(async (value) => {
					settings.vaultName = value.trim();
					await this.host.saveSettings();
				}));
	}
}
