import sharp from 'sharp';
import { startDemoService } from './test/helpers/demo-service';
import { formBody } from './test/helpers/edit-images';
(async () => {
  const SIDE=2048; const raw = Buffer.alloc(SIDE*SIDE*3); let seed=1;
  for (let i=0;i<raw.length;i++){ seed=(seed*1103515245+12345)&0x7fffffff; raw[i]=(i>>14)+((seed>>16)%16);} 
  const png = await sharp(raw,{raw:{width:SIDE,height:SIDE,channels:3}}).png().toBuffer();
  const svc = await startDemoService({ worker: false, models: { img2img: '/work/shared/goldens/e2e2/img2img-diffusers' } });
  const form = await formBody({ prompt: 'x', model: 'img2img', image: png });
  const json = JSON.stringify({ prompt: 'x', model: 'img2img', image: png.toString('base64') });
  for (let k=0;k<4;k++){
    let t=performance.now(); const r = await svc.app.inject({ method:'POST', url:'/v1/generate', ...form }); const a=performance.now()-t;
    t=performance.now(); const r2 = await svc.app.inject({ method:'POST', url:'/v1/generate', payload: json, headers: {'content-type':'application/json'} }); const b=performance.now()-t;
    console.log(r.statusCode, r2.statusCode, {multipart:a.toFixed(0), json:b.toFixed(0)});
  }
  await svc.close();
})();
