// vkgrad/optim.hpp — optimizers, schedules, clipping, EMA.
#pragma once
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/ema.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
