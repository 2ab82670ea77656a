//! Opening the GPU: a real adapter when there is one, else software Vulkan (lavapipe), same code.

use std::sync::{Arc, Mutex};

use super::ComposeError;

/// The device and queue every render shares.
pub struct Gpu {
    pub device: wgpu::Device,
    /// The last GPU error the device reported (validation, out of memory). wgpu's default is to
    /// panic; a render service must fail the job instead, so errors land here and renders check it.
    errors: Arc<Mutex<Option<String>>>,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub max_texture_side: u32,
}

impl Gpu {
    /// Picks an adapter: `preferred` (a name substring) if given and found; otherwise discrete GPU >
    /// integrated > virtual > software (CPU) > anything.
    pub fn open(preferred: Option<&str>) -> Result<Gpu, ComposeError> {
        quiet_runtime_dir();
        // Vulkan/Metal/DX12 only unless WGPU_BACKEND says otherwise: probing GL on a headless server
        // only prints EGL errors.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        let desc = desc.with_env();
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if adapters.is_empty() {
            return Err(ComposeError::Gpu(
                "no GPU adapter found; install a Vulkan driver (Debian: apt-get install mesa-vulkan-drivers libvulkan1)"
                    .into(),
            ));
        }
        let rank = |a: &wgpu::Adapter| {
            let info = a.get_info();
            let by_type = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Cpu => 3,
                wgpu::DeviceType::Other => 4,
            };
            // Vulkan first: it is the backend we test on (lavapipe) and deploy on.
            let by_backend = if info.backend == wgpu::Backend::Vulkan {
                0
            } else {
                1
            };
            let preferred_hit = preferred
                .map(|p| !info.name.to_lowercase().contains(&p.to_lowercase()))
                .unwrap_or(false);
            (preferred_hit, by_type, by_backend)
        };
        let adapter = adapters.into_iter().min_by_key(rank).expect("non-empty");
        let info = adapter.get_info();
        let limits = adapter.limits();
        let max_texture_side = limits.max_texture_dimension_2d.min(16_384);
        let required_limits = wgpu::Limits {
            max_texture_dimension_2d: max_texture_side,
            max_texture_array_layers: limits.max_texture_array_layers.min(256),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vrender"),
            required_features: wgpu::Features::empty(),
            required_limits,
            ..Default::default()
        }))
        .map_err(|e| ComposeError::Gpu(format!("cannot open {}: {e}", info.name)))?;
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        tracing::info!(
            adapter = %summary.name,
            backend = %summary.backend,
            device_type = %summary.device_type,
            driver = %info.driver,
            "GPU adapter chosen"
        );
        let errors: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!(error = %e, "GPU error");
            *sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }));
        Ok(Gpu {
            errors,
            device,
            queue,
            summary,
            max_texture_side,
        })
    }

    /// Takes the last GPU error reported since the previous call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Gpu {
    /// A plain 2D texture on this device (see [`texture_2d`]).
    pub fn texture_2d(
        &self,
        label: &str,
        size: (u32, u32),
        format: wgpu::TextureFormat,
        usage: wgpu::TextureUsages,
    ) -> wgpu::Texture {
        texture_2d(&self.device, label, size, format, usage)
    }
}

/// A plain 2D texture (one mip level, one sample) — every texture the compositor makes.
pub fn texture_2d(
    device: &wgpu::Device,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// Mesa's Vulkan window-system code prints "XDG_RUNTIME_DIR is invalid or not set" on every start
/// when the variable is missing (servers, containers, CI). We never present to a window, so point
/// it at a private folder of our own (mode 0700, as the XDG spec asks) before loading the driver.
fn quiet_runtime_dir() {
    use std::os::unix::fs::PermissionsExt;
    let valid =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if valid {
        return;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("vrender-runtime-{uid}"));
    let made = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)));
    match made {
        // Set once, before any other thread of ours reads the environment.
        Ok(()) => std::env::set_var("XDG_RUNTIME_DIR", &dir),
        Err(e) => {
            tracing::debug!(error = %e, "could not make a runtime folder for the Vulkan driver")
        }
    }
}

/// The GPU adapter a render engine runs on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// Whether this is a software rasteriser (lavapipe/llvmpipe).
    pub software: bool,
}
