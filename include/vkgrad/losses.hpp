// vkgrad/losses.hpp — the training losses.
#pragma once
#include "losses/contextual.hpp"
#include "losses/gan.hpp"
#include "losses/pixel.hpp"
