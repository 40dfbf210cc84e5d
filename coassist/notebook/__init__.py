"""The notebook layer: `%%assist` magics, prompt context from the kernel, and widgets."""
