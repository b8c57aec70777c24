// Package led drives the front-panel lights when they hang directly off the
// board (GPIO lines or /sys/class/leds) rather than off the panel MCU.
//
// LED is one light that is on or off. Blinker drives the red, amber and green
// lights by a Pattern, blinking them from an injected clock. The Linux drivers
// are NewGPIO (GPIO character device, github.com/warthog618/go-gpiocdev) and
// NewSysfs (/sys/class/leds); ledtest has a fake. Boards whose lights are on
// the panel MCU (led.backend: panel) use firmware/panel's Link instead.
package led
