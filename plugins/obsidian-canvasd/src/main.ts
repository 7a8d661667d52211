import { Plugin } from "obsidian";
import { CanvasdApi } from "./api";
import { registerCommands } from "./commands";
import { resolveEndpoint, thisMachine } from "./discovery";
import { DUE_VIEW_TYPE, DueView } from "./dueView";
import { ChangeFeed } from "./feed";
import { Leases, openCanvasViews } from "./leases";
import { Proposals } from "./proposals";
import { CanvasdSettingTab, daemonVaultName, mergeSettings, type CanvasdSettings } from "./settings";
import { StatusBar } from "./status";
import { Transport } from "./transport";

const STATUS_REFRESH_MS = 5 * 60_000;

/** The lifecycle only: everything is registered through Plugin's helpers, so unloading leaves nothing. */
export default class CanvasdPlugin extends Plugin {
	settings!: CanvasdSettings;
	private reconnect: () => void = () => undefined;
	/** This load's lease on the open canvases (its `client` is the id proposals are addressed to). */
	leases: Leases | null = null;

	override async onload(): Promise<void> {
		this.settings = mergeSettings(await this.loadData());
		const machine = thisMachine();
		const transport = new Transport(() => resolveEndpoint(this.settings, machine));
		const api = new CanvasdApi(transport);
		const vault = (): string => daemonVaultName(this.settings, this.app.vault.getName());

		const status = new StatusBar(this.addStatusBarItem(), transport);
		this.register(() => status.dispose());

		const refreshViews = (): void => {
			for (const leaf of this.app.workspace.getLeavesOfType(DUE_VIEW_TYPE)) {
				if (leaf.view instanceof DueView) void leaf.view.refresh();
			}
		};
		// The canvases open here are leased, so canvasd's own writes to them come as proposals to apply live.
		const leases = new Leases(transport, () => openCanvasViews(this.app).flatMap((view) =>
			view.file === null ? [] : [{ vault: vault(), path: view.file.path }]));
		this.leases = leases;
		const proposals = new Proposals({ transport, client: leases.client, vault, views: () => openCanvasViews(this.app) });
		this.register(() => {
			proposals.stop();
			void leases.stop();
		});
		const layoutChanged = (): void => leases.changed();
		this.registerEvent(this.app.workspace.on("layout-change", layoutChanged));
		this.registerEvent(this.app.workspace.on("active-leaf-change", layoutChanged));
		this.registerEvent(this.app.workspace.on("file-open", layoutChanged));
		this.registerEvent(this.app.vault.on("rename", layoutChanged));

		const feed = new ChangeFeed(transport, {
			onEvent: (event) => {
				if (event.kind === "proposal") {
					proposals.onEvent(event);
					return;
				}
				status.onEvent(event);
				if (event.kind === "review") refreshViews();
			},
			onReset: async () => {
				await status.refresh();
				refreshViews();
			},
			onState: (state, error) => {
				if (state === "connected") {
					void status.refresh();
					void leases.sync(); // a restarted daemon has forgotten the lease
				}
				else if (state === "offline") status.setOffline(error?.message ?? "the change feed is offline");
			},
		});
		this.register(() => feed.stop());
		// New settings may name another daemon: follow the feed from wherever they point now.
		this.reconnect = () => {
			if (feed.state === "stopped") return;
			feed.stop();
			feed.start();
		};

		this.registerView(DUE_VIEW_TYPE, (leaf) => new DueView(leaf, api, vault));
		registerCommands(this, { app: this.app, api, vault });
		this.addCommand({
			id: "show-due-cards",
			name: "Show cards due today",
			callback: () => void this.revealDueView(),
		});
		this.addSettingTab(new CanvasdSettingTab(this.app, this));
		this.registerInterval(window.setInterval(() => void status.refresh(), STATUS_REFRESH_MS));

		this.app.workspace.onLayoutReady(() => {
			void status.refresh();
			leases.start();
			feed.start();
		});
	}

	async saveSettings(): Promise<void> {
		await this.saveData(this.settings);
		this.reconnect();
	}

	private async revealDueView(): Promise<void> {
		const existing = this.app.workspace.getLeavesOfType(DUE_VIEW_TYPE)[0];
		const leaf = existing ?? this.app.workspace.getRightLeaf(false);
		if (leaf === null) return;
		await leaf.setViewState({ type: DUE_VIEW_TYPE, active: true });
		await this.app.workspace.revealLeaf(leaf);
	}
}
